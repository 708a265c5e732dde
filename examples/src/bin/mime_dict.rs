//! `mime_dict parse | render`: converts between the RFC 2822-style text form of a MimeDict and
//! JSON, stdin to stdout.
//!
//! - `parse`: text in, `{"headers": [[name, value], …], "body": "…"}` out.
//! - `render`: that JSON in, text out (CRLF line endings, long values folded).
//!
//! Malformed input is reported on stderr (with its line number) and exits with status 1.

use kamaelia_codec::MimeDict;
use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match &args[..] {
        [mode] if mode == "parse" || mode == "render" => mode.clone(),
        _ => {
            // Checked before reading stdin, so a wrong call never waits for input.
            eprintln!("usage: mime_dict parse|render   (stdin → stdout)");
            std::process::exit(2);
        }
    };
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        fail(&format!("cannot read standard input: {e}"));
    }
    let output = if mode == "parse" {
        MimeDict::parse(&input)
            .map_err(|e| e.to_string())
            .and_then(|dict| serde_json::to_string_pretty(&dict).map_err(|e| e.to_string()))
            .map(|json| json + "\n")
    } else {
        serde_json::from_str::<MimeDict>(&input)
            .map_err(|e| format!("not a MimeDict in JSON: {e}"))
            .and_then(|dict| dict.render().map_err(|e| e.to_string()))
    };
    match output {
        Ok(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("mime_dict: {message}");
    std::process::exit(1);
}
