//! The `Boxes` derive for [kamaelia-axon](https://docs.rs/kamaelia-axon) (`axon_core`) components.
//!
//! Every field whose type is `Inbox<T>` or `Outbox<T>` becomes a named box of the component;
//! the field name is the box name and the field's doc comment is kept as the box's description,
//! as Axon kept them in its `Inboxes`/`Outboxes` dictionaries. Other fields are ordinary state.
//! See `axon_core::Boxes` for the generated API.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, Fields, Lit, Meta, Type, parse_macro_input};

/// Derives `axon_core::Boxes`: lists the component's `Inbox`/`Outbox` fields with their names and
/// doc comments. Also derives `axon_core::Stage` from the standard boxes (`inbox`, `control`,
/// `outbox`, `signal`; a missing data box counts as `()`), which is what lets `Pipeline` chain the
/// component. When the struct has `inbox: Inbox<T>` and `control: Inbox<Control>` it also gets
/// `inbox_or_finished()`, the usual "data until ProducerFinished, then drain" loop helper.
#[proc_macro_derive(Boxes)]
pub fn derive_boxes(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

enum Direction {
    In,
    Out,
}

/// `Some((direction, T))` when `ty` is `Inbox<T>` or `Outbox<T>` (any path prefix).
fn box_type(ty: &Type) -> Option<(Direction, &Type)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let direction = match last.ident.to_string().as_str() {
        "Inbox" => Direction::In,
        "Outbox" => Direction::Out,
        _ => return None,
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(t) => Some((direction_copy(&direction), t)),
        _ => None,
    })
}

fn direction_copy(d: &Direction) -> Direction {
    match d {
        Direction::In => Direction::In,
        Direction::Out => Direction::Out,
    }
}

fn doc_of(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(s) => Some(s.value().trim().to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join(" ").trim().to_string()
}

fn is_control(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Control"))
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(Boxes)] works on structs whose fields are the component's boxes",
        ));
    };
    let empty = syn::punctuated::Punctuated::new();
    let named = match &data.fields {
        Fields::Named(fields) => &fields.named,
        Fields::Unit => &empty,
        Fields::Unnamed(_) => {
            return Err(syn::Error::new_spanned(
                name,
                "#[derive(Boxes)] needs named fields: the field name is the box name",
            ));
        }
    };
    let mut entries = Vec::new();
    let mut specs = Vec::new();
    let mut inbox_type = None;
    let mut outbox_type = None;
    let mut has_control = false;
    let mut has_signal = false;
    for field in named {
        let Some((direction, inner)) = box_type(&field.ty) else {
            continue;
        };
        let ident = field.ident.as_ref().expect("named field");
        let box_name = ident.to_string();
        let doc = doc_of(&field.attrs);
        let constructor = match direction {
            Direction::In => quote!(::axon_core::BoxEntry::inbox),
            Direction::Out => quote!(::axon_core::BoxEntry::outbox),
        };
        let index = specs.len();
        specs.push(quote! { ::axon_core::BoxSpec::new(#box_name, #doc) });
        entries.push(quote! { #constructor(&SPECS[#index], &self.#ident) });
        match direction {
            Direction::In if box_name == "inbox" => inbox_type = Some(inner.clone()),
            Direction::In if box_name == "control" && is_control(inner) => has_control = true,
            Direction::Out if box_name == "outbox" => outbox_type = Some(inner.clone()),
            Direction::Out if box_name == "signal" && is_control(inner) => has_signal = true,
            _ => {}
        }
    }
    let count = specs.len();
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let stage = {
        let (in_type, inbox) = match &inbox_type {
            Some(t) => (
                quote!(#t),
                quote!(::core::option::Option::Some(&self.inbox)),
            ),
            None => (quote!(()), quote!(::core::option::Option::None)),
        };
        let (out_type, outbox) = match &outbox_type {
            Some(t) => (
                quote!(#t),
                quote!(::core::option::Option::Some(&self.outbox)),
            ),
            None => (quote!(()), quote!(::core::option::Option::None)),
        };
        let control = if has_control {
            quote!(::core::option::Option::Some(&self.control))
        } else {
            quote!(::core::option::Option::None)
        };
        let signal = if has_signal {
            quote!(::core::option::Option::Some(&self.signal))
        } else {
            quote!(::core::option::Option::None)
        };
        quote! {
            impl #impl_generics ::axon_core::Stage for #name #ty_generics #where_clause {
                type In = #in_type;
                type Out = #out_type;
                fn stage_inbox(&self) -> ::core::option::Option<&::axon_core::Inbox<Self::In>> { #inbox }
                fn stage_control(&self) -> ::core::option::Option<&::axon_core::Inbox<::axon_core::Control>> { #control }
                fn stage_outbox(&self) -> ::core::option::Option<&::axon_core::Outbox<Self::Out>> { #outbox }
                fn stage_signal(&self) -> ::core::option::Option<&::axon_core::Outbox<::axon_core::Control>> { #signal }
            }
        }
    };
    let helper = match (inbox_type, has_control) {
        (Some(t), true) => quote! {
            impl #impl_generics #name #ty_generics #where_clause {
                /// Waits for the next value on `inbox`; `None` once `control` has said the
                /// producer finished (or asked for shutdown) and the inbox is drained.
                #[allow(dead_code)]
                pub fn inbox_or_finished(&mut self) -> ::axon_core::RecvOrFinished<'_, #t> {
                    self.inbox.recv_or_finished(&mut self.control)
                }
            }
        },
        _ => quote! {},
    };
    Ok(quote! {
        impl #impl_generics ::axon_core::Boxes for #name #ty_generics #where_clause {
            fn boxes(&self) -> ::std::vec::Vec<::axon_core::BoxEntry> {
                static SPECS: [::axon_core::BoxSpec; #count] = [#(#specs),*];
                ::std::vec![#(#entries),*]
            }
        }
        #stage
        #helper
    })
}
