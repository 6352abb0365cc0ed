//! Text helpers shared by the adapters, the offline twin and the tests.

/// Decode `%XX` escapes and `+` (a space in form encoding; IAM and moto escape a literal `+` as
/// `%2B`, so reading `+` as a space is right for URL-encoded policy documents too). A `%` that
/// does not start two hex digits stays as it is; invalid UTF-8 after decoding is replaced, never
/// a panic (a `%` before a multi-byte character is just a `%`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes.get(i + 1..i + 3).and_then(hex_byte) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn escapes_pluses_and_what_is_not_an_escape() {
        assert_eq!(
            percent_decode("%7B%22Effect%22%3A+%22Deny%22%7D"),
            r#"{"Effect": "Deny"}"#
        );
        assert_eq!(percent_decode("a%2Bb"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        // A `%` before a multi-byte character: kept, no panic.
        assert_eq!(percent_decode("%é1"), "%é1");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }
}
