//! The hand-written tokio echo server the echo benches compare against (net, multicore): a
//! task per connection, a 16 KiB read buffer each. Runs on whatever runtime polls it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Prints the address (the parent reads it), then serves until the process is killed.
pub(crate) async fn serve_raw_echo() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}
