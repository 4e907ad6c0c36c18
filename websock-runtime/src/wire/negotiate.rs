//! Choosing a permessage-deflate offer and answering it (RFC 7692 §5, §7.1).

use crate::Deflate;
use http::{HeaderMap, HeaderValue, header};

/// What the client and we agreed on for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// How we compress what we send.
    pub(crate) compress: CompressParams,
    /// How we inflate what the client sends.
    pub(crate) inflate: InflateParams,
}

/// Our side's compressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompressParams {
    pub(crate) level: u8,
    /// 9 to 15: what zlib can use (see `Deflate::window_bits` for 8).
    pub(crate) window_bits: u8,
    pub(crate) threshold: usize,
    /// Keep the compressor from one message to the next.
    pub(crate) takeover: bool,
}

/// Our side's decompressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InflateParams {
    /// The client keeps its context: so must our decompressor.
    pub(crate) takeover: bool,
    pub(crate) max_ratio: Option<u32>,
}

/// One offer's parameters (RFC 7692 §7.1), each at most once.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
}

/// The first acceptable permessage-deflate offer in `headers`, and the
/// `Sec-WebSocket-Extensions` value that accepts it; `None` declines them all (the connection
/// goes on uncompressed).
pub(crate) fn negotiate(headers: &HeaderMap, ours: &Deflate) -> Option<(Agreed, HeaderValue)> {
    let values = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS);
    let mut offers = values
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| split_outside_quotes(value, ','));
    offers.find_map(|offer| {
        let mut parts = split_outside_quotes(offer, ';');
        let name = parts.next()?.trim();
        if !name.eq_ignore_ascii_case("permessage-deflate") {
            return None;
        }
        let offer = parse_params(parts)?;
        Some(accept(&offer, ours))
    })
}

/// Declines (`None`) an offer with an unknown parameter, a repeated one, or an invalid value.
fn parse_params<'a>(params: impl Iterator<Item = &'a str>) -> Option<Offer> {
    let mut offer = Offer::default();
    let mut seen = [false; 4];
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        let index = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => {
                offer.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" if value.is_none() => {
                offer.client_no_context_takeover = true;
                1
            }
            "server_max_window_bits" => {
                offer.server_max_window_bits = Some(window_bits(value?)?);
                2
            }
            // The client's window needs nothing from us (see `accept`), only a valid value.
            "client_max_window_bits" => {
                if let Some(value) = value {
                    window_bits(value)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(offer)
}

/// RFC 7692 §7.1.2: a decimal 8 to 15, no leading zero.
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// A quoted-string value (RFC 7692 §7.1 allows `"10"` as well as `10`) without its quotes.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|inner| !inner.contains('"')),
        None => Some(value),
    }
}

/// The response to an acceptable offer.
fn accept(offer: &Offer, ours: &Deflate) -> (Agreed, HeaderValue) {
    let server_takeover = ours.context_takeover && !offer.server_no_context_takeover;
    // RFC 7692 §7.1.1.2: the server may ask for it whatever the offer said.
    let client_takeover = ours.context_takeover && !offer.client_no_context_takeover;
    let mut response = String::from("permessage-deflate");
    if !server_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if !client_takeover {
        response.push_str("; client_no_context_takeover");
    }
    let mut window_bits = ours.window_bits;
    if let Some(asked) = offer.server_max_window_bits {
        let answered = asked.min(ours.window_bits);
        response.push_str(&format!("; server_max_window_bits={answered}"));
        // zlib has no 8-bit raw window; its 9-bit one never reaches further back than 250
        // bytes, which an 8-bit window holds.
        window_bits = answered.max(9);
    }
    // `client_max_window_bits` is left out: the client's window may be anything up to 15
    // bits, and we always inflate with a 15-bit window.
    let agreed = Agreed {
        compress: CompressParams {
            level: ours.level,
            window_bits,
            threshold: ours.threshold,
            takeover: server_takeover,
        },
        inflate: InflateParams {
            takeover: client_takeover,
            max_ratio: ours.max_inflate_ratio,
        },
    };
    let response = HeaderValue::from_str(&response).expect("ASCII without control characters");
    (agreed, response)
}

/// Splits `text` at each `separator` that is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c: char| {
        if c == '"' {
            quoted = !quoted;
        }
        c == separator && !quoted
    })
    .filter(|part| !part.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(offers: &[&str], ours: &Deflate) -> Option<(Agreed, String)> {
        let mut headers = HeaderMap::new();
        for offer in offers {
            headers.append(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(offer).unwrap(),
            );
        }
        negotiate(&headers, ours).map(|(agreed, value)| (agreed, value.to_str().unwrap().into()))
    }

    fn response(offers: &[&str]) -> Option<String> {
        answer(offers, &Deflate::default()).map(|(_, value)| value)
    }

    const BOTH: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn browsers_offers_get_no_context_takeover_both_ways() {
        // Chrome, Firefox.
        for offer in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate",
        ] {
            assert_eq!(response(&[offer]).as_deref(), Some(BOTH), "{offer}");
        }
        let (agreed, _) = answer(&["permessage-deflate"], &Deflate::default()).unwrap();
        assert!(!agreed.compress.takeover && !agreed.inflate.takeover);
        assert_eq!(agreed.compress.window_bits, 15);
    }

    #[test]
    fn invalid_or_unknown_parameters_decline_the_offer_and_the_next_one_is_taken() {
        let refused = [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; mystery",
            "x-webkit-deflate-frame",
        ];
        for offer in refused {
            assert_eq!(response(&[offer]), None, "{offer}");
            // Several offers: the first acceptable one, in a second header line too.
            let both = format!("{offer}, permessage-deflate; server_max_window_bits=10");
            let want = format!("{BOTH}; server_max_window_bits=10");
            assert_eq!(response(&[&both]), Some(want.clone()), "{both}");
            assert_eq!(
                response(&[offer, "permessage-deflate; server_max_window_bits=10"]),
                Some(want),
                "{offer}"
            );
        }
        assert_eq!(response(&[]), None);
    }

    #[test]
    fn window_bits_are_answered_at_most_as_asked_and_8_is_served_with_9() {
        let quoted = r#"permessage-deflate; server_max_window_bits="12"; client_max_window_bits=8"#;
        let (agreed, value) = answer(&[quoted], &Deflate::default()).unwrap();
        assert_eq!(value, format!("{BOTH}; server_max_window_bits=12"));
        assert_eq!(agreed.compress.window_bits, 12);

        let asked_8 = "permessage-deflate; server_max_window_bits=8";
        let (agreed, value) = answer(&[asked_8], &Deflate::default()).unwrap();
        assert_eq!(value, format!("{BOTH}; server_max_window_bits=8"));
        assert_eq!(agreed.compress.window_bits, 9);

        let ours = Deflate::default().window_bits(10);
        let (agreed, value) =
            answer(&["permessage-deflate; server_max_window_bits=13"], &ours).unwrap();
        assert_eq!(value, format!("{BOTH}; server_max_window_bits=10"));
        assert_eq!(agreed.compress.window_bits, 10);
    }

    #[test]
    fn context_takeover_is_kept_unless_the_client_declines_it() {
        let ours = Deflate::default().context_takeover(true);
        let (agreed, value) = answer(&["permessage-deflate"], &ours).unwrap();
        assert_eq!(value, "permessage-deflate");
        assert!(agreed.compress.takeover && agreed.inflate.takeover);

        let offer = "permessage-deflate; server_no_context_takeover";
        let (agreed, value) = answer(&[offer], &ours).unwrap();
        assert_eq!(value, "permessage-deflate; server_no_context_takeover");
        assert!(!agreed.compress.takeover && agreed.inflate.takeover);
    }
}
