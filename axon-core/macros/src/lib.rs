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
///
/// It also implements `Debug`, showing the boxes (their depth and links) and eliding the state;
/// `#[boxes(no_debug)]` on the struct leaves `Debug` to you.
///
/// A field of type `AdaptiveBoxes` (at most one) holds the boxes the component adds and removes
/// while it runs; the scheduler finds them by name and shows them in the topology.
///
/// Attributes: `#[boxes(control)]` on an `Inbox<Control>` field with another name makes it the
/// control inbox (an `Inbox<Control>` that is neither named `control` nor marked is an error, as
/// it would silently be no control inbox at all); `#[boxes(crate = path)]` on the struct names
/// where `axon_core` is, for crates that reach it through a re-export (`kamaelia_net::axon_core`).
#[proc_macro_derive(Boxes, attributes(boxes))]
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

/// What `#[boxes(...)]` says on the struct or a field.
#[derive(Default)]
struct BoxesAttr {
    krate: Option<syn::Path>,
    control: bool,
    no_debug: bool,
}

fn boxes_attr(attrs: &[syn::Attribute]) -> syn::Result<BoxesAttr> {
    let mut found = BoxesAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("boxes")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                found.krate = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("control") {
                found.control = true;
                Ok(())
            } else if meta.path.is_ident("no_debug") {
                found.no_debug = true;
                Ok(())
            } else {
                Err(meta.error(
                    "expected `crate = path` or `no_debug` (on the struct), or `control` (on a field)",
                ))
            }
        })?;
    }
    Ok(found)
}

/// True when `ty` is `AdaptiveBoxes` or `AdaptiveBoxes<R>` (any path prefix).
fn is_adaptive(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "AdaptiveBoxes"))
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
    let struct_attr = boxes_attr(&input.attrs)?;
    let root = match struct_attr.krate {
        Some(path) => quote!(#path),
        None => quote!(::axon_core),
    };
    let mut debug_fields = Vec::new();
    let mut entries = Vec::new();
    let mut declares = Vec::new();
    let mut decls = Vec::new();
    let mut specs = Vec::new();
    let mut inbox_type = None;
    let mut outbox_type = None;
    let mut control_field: Option<syn::Ident> = None;
    let mut unnamed_control: Option<&syn::Ident> = None;
    let mut has_signal = false;
    let mut adaptive: Option<&syn::Ident> = None;
    for field in named {
        if is_adaptive(&field.ty) {
            let ident = field.ident.as_ref().expect("named field");
            if adaptive.is_some() {
                return Err(syn::Error::new_spanned(
                    ident,
                    "a component has one `AdaptiveBoxes` field: it holds all the boxes added at run time",
                ));
            }
            adaptive = Some(ident);
            let field_name = ident.to_string();
            debug_fields.push(quote! { .field(#field_name, &self.#ident) });
            continue;
        }
        let Some((direction, inner)) = box_type(&field.ty) else {
            continue;
        };
        let ident = field.ident.as_ref().expect("named field");
        let box_name = ident.to_string();
        let marked = boxes_attr(&field.attrs)?.control;
        if marked && !(matches!(direction, Direction::In) && is_control(inner)) {
            return Err(syn::Error::new_spanned(
                ident,
                "#[boxes(control)] marks the control inbox: an `Inbox<Control>` field",
            ));
        }
        let doc = doc_of(&field.attrs);
        let constructor = match direction {
            Direction::In => quote!(#root::BoxEntry::inbox),
            Direction::Out => quote!(#root::BoxEntry::outbox),
        };
        let index = specs.len();
        debug_fields.push(quote! { .field(#box_name, &self.#ident) });
        specs.push(quote! { #root::BoxSpec::new(#box_name, #doc) });
        entries.push(quote! { #constructor(&SPECS[#index], &self.#ident) });
        let field_type = &field.ty;
        declares.push(quote! { declaration.add(&SPECS[#index], &self.#ident); });
        decls.push(quote! { #index => ::core::option::Option::Some(#root::BoxDecl::of::<#field_type>(&SPECS[#index])), });
        match direction {
            Direction::In if box_name == "inbox" => inbox_type = Some(inner.clone()),
            Direction::In if is_control(inner) && (box_name == "control" || marked) => {
                if let Some(first) = &control_field
                    && (marked || first != "control")
                {
                    return Err(syn::Error::new_spanned(
                        ident,
                        "a component has one control inbox: `control`, or the field marked #[boxes(control)]",
                    ));
                }
                if marked || control_field.is_none() {
                    control_field = Some(ident.clone());
                }
            }
            Direction::In if is_control(inner) => unnamed_control = unnamed_control.or(Some(ident)),
            Direction::Out if box_name == "outbox" => outbox_type = Some(inner.clone()),
            Direction::Out if box_name == "signal" && is_control(inner) => has_signal = true,
            _ => {}
        }
    }
    if let (None, Some(other)) = (&control_field, unnamed_control) {
        return Err(syn::Error::new_spanned(
            other,
            format!(
                "`{other}` is an `Inbox<Control>`, but the control inbox is the one named `control`: \
                 as it is, pipelines would not stop this component and it gets no \
                 `inbox_or_finished()`. Rename it `control`, or mark it #[boxes(control)]"
            ),
        ));
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
        let control = match &control_field {
            Some(field) => quote!(::core::option::Option::Some(&self.#field)),
            None => quote!(::core::option::Option::None),
        };
        let signal = if has_signal {
            quote!(::core::option::Option::Some(&self.signal))
        } else {
            quote!(::core::option::Option::None)
        };
        quote! {
            impl #impl_generics #root::Stage for #name #ty_generics #where_clause {
                type In = #in_type;
                type Out = #out_type;
                fn stage_inbox(&self) -> ::core::option::Option<&#root::Inbox<Self::In>> { #inbox }
                fn stage_control(&self) -> ::core::option::Option<&#root::Inbox<#root::Control>> { #control }
                fn stage_outbox(&self) -> ::core::option::Option<&#root::Outbox<Self::Out>> { #outbox }
                fn stage_signal(&self) -> ::core::option::Option<&#root::Outbox<#root::Control>> { #signal }
            }
        }
    };
    let helper = match (inbox_type, &control_field) {
        (Some(t), Some(control)) => quote! {
            impl #impl_generics #name #ty_generics #where_clause {
                /// Waits for the next value on `inbox`; `None` once the control inbox has said
                /// the producer finished (or asked for shutdown) and the inbox is drained.
                #[allow(dead_code)]
                pub fn inbox_or_finished(&mut self) -> #root::RecvOrFinished<'_, #t> {
                    self.inbox.recv_or_finished(&mut self.#control)
                }
            }
        },
        _ => quote! {},
    };
    let debug = if struct_attr.no_debug {
        quote! {}
    } else {
        let name_text = name.to_string();
        quote! {
            impl #impl_generics ::core::fmt::Debug for #name #ty_generics #where_clause {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#name_text) #(#debug_fields)* .finish_non_exhaustive()
                }
            }
        }
    };
    let adaptive = match adaptive {
        Some(field) => quote! {
            fn adaptive(&self) -> ::core::option::Option<#root::AdaptiveRegistry> {
                ::core::option::Option::Some(self.#field.registry())
            }
        },
        None => quote! {},
    };
    Ok(quote! {
        #debug
        impl #impl_generics #root::Boxes for #name #ty_generics #where_clause {
            fn boxes(&self) -> ::std::vec::Vec<#root::BoxEntry> {
                static SPECS: [#root::BoxSpec; #count] = [#(#specs),*];
                ::std::vec![#(#entries),*]
            }
            fn declare(&self, declaration: &mut #root::Declaration) {
                static SPECS: [#root::BoxSpec; #count] = [#(#specs),*];
                let _ = (&SPECS, &declaration);
                #(#declares)*
            }
            #[allow(unreachable_patterns)]
            fn declared(index: usize) -> ::core::option::Option<#root::BoxDecl> {
                static SPECS: [#root::BoxSpec; #count] = [#(#specs),*];
                let _ = &SPECS;
                match index {
                    #(#decls)*
                    _ => ::core::option::Option::None,
                }
            }
            #adaptive
        }
        #stage
        #helper
    })
}
