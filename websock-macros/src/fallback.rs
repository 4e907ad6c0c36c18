//! What to emit when there are errors: the user's items with the helper attributes stripped,
//! plus a stub `Handler` impl, next to the `compile_error!`s, so one mistake does not cascade
//! into "cannot find attribute `on_text`" or "`X` is not a websock handler" everywhere else.

use crate::{
    ast::{self, Handler},
    ctxt::Ctxt,
    info,
};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Item, ItemImpl};

/// Only the errors.
pub(crate) fn errors(cx: Ctxt) -> TokenStream {
    cx.check()
        .err()
        .map(syn::Error::into_compile_error)
        .unwrap_or_default()
}

/// The attribute was on a struct, a function, ..: keep the item as it is.
pub(crate) fn not_an_impl(item: &Item, cx: Ctxt) -> TokenStream {
    let errors = errors(cx);
    quote!(#item #errors)
}

/// A trait impl: keep it, without our attributes.
pub(crate) fn stripped(item: &ItemImpl, cx: Ctxt) -> TokenStream {
    let errors = errors(cx);
    quote!(#item #errors)
}

/// The handler impl had mistakes: the impl (methods not called from anywhere, so dead code is
/// allowed), the info enum and `Init` type as far as they are known, and a `Handler` impl
/// whose callbacks are never reached.
pub(crate) fn handler(handler: &Handler<'_>, errors: syn::Error) -> TokenStream {
    let item = handler.item;
    let errors = errors.into_compile_error();
    if handler.self_ident.is_none() {
        return quote! {
            #[allow(dead_code)]
            #item
            #errors
        };
    }
    let self_ty = handler.self_ty;
    // A generic impl gets a generic stub (and no info enum), so `Context<Self>` in its
    // methods still finds a `Handler`.
    let generic = !item.generics.params.is_empty() || item.generics.where_clause.is_some();
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let (info_ty, info_items) = if generic {
        (quote!(::core::convert::Infallible), TokenStream::new())
    } else {
        info::info_items(handler)
    };
    let init_ty = handler
        .init
        .as_ref()
        .map_or_else(|| quote!(()), ast::Init::init_ty);
    quote! {
        #[allow(dead_code)]
        #item

        #info_items

        #[allow(unused_variables)]
        impl #impl_generics ::websock::__private::Handler for #self_ty #where_clause {
            type Init = #init_ty;
            type Info = #info_ty;

            async fn init(
                _: Self::Init,
                _: &mut ::websock::__private::Context<Self>,
            ) -> ::core::result::Result<Self, ::websock::__private::Close> {
                ::core::unreachable!()
            }

            async fn handle_in(
                &mut self,
                _: ::websock::__private::Message,
                _: &mut ::websock::__private::Context<Self>,
            ) -> ::websock::__private::Reply {
                ::core::unreachable!()
            }
        }

        #errors
    }
}
