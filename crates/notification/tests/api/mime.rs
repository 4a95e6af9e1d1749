//! Just enough MIME to read back what the service sent: headers (unfolded, RFC 2047
//! encoded-words decoded), a multipart body split into its parts, and each part's
//! transfer encoding (quoted-printable, base64, 7bit/8bit) undone.

/// A parsed email.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The message exactly as received or written.
    pub raw: String,
    /// Top-level headers, unfolded, in order; values are not decoded.
    pub headers: Vec<(String, String)>,
    /// The parts of a multipart body (empty for a single-part message).
    pub parts: Vec<Part>,
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub struct Part {
    /// Its headers, unfolded.
    pub headers: Vec<(String, String)>,
    /// Its body with the transfer encoding undone.
    pub body: String,
}

impl Part {
    /// The media type, lower case, without parameters (`text/plain`).
    pub fn media_type(&self) -> String {
        media_type(header(&self.headers, "content-type").unwrap_or("text/plain"))
    }
}

impl Mail {
    /// Parses `raw` (CRLF or LF line endings).
    pub fn parse(raw: &str) -> Mail {
        let normalised = raw.replace("\r\n", "\n");
        let (head, body) = split_head(&normalised);
        let headers = parse_headers(head);
        let content_type = header(&headers, "content-type").unwrap_or("text/plain").to_owned();
        let parts = match parameter(&content_type, "boundary") {
            Some(boundary) if media_type(&content_type).starts_with("multipart/") => split_parts(body, &boundary),
            _ => Vec::new(),
        };
        Mail { raw: raw.to_owned(), headers, parts }
    }

    /// A header's raw (undecoded) value; panics when missing.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        header(&self.headers, name).unwrap_or_else(|| panic!("no {name} header in:\n{}", self.raw))
    }

    /// A header's value with encoded-words decoded; panics when missing.
    #[track_caller]
    pub fn decoded(&self, name: &str) -> String {
        decode_words(self.header(name))
    }

    /// The decoded `Subject`.
    #[track_caller]
    pub fn subject(&self) -> String {
        self.decoded("subject")
    }

    /// The media type of the whole message (`multipart/alternative`).
    #[track_caller]
    pub fn media_type(&self) -> String {
        media_type(self.header("content-type"))
    }

    /// The body of the part of media type `media_type`; panics when there is none.
    #[track_caller]
    pub fn part(&self, media_type: &str) -> &str {
        &self
            .parts
            .iter()
            .find(|p| p.media_type() == media_type)
            .unwrap_or_else(|| panic!("no {media_type} part in:\n{}", self.raw))
            .body
    }

    /// The plain-text part.
    #[track_caller]
    pub fn text(&self) -> &str {
        self.part("text/plain")
    }

    /// The HTML part.
    #[track_caller]
    pub fn html(&self) -> &str {
        self.part("text/html")
    }

    /// Asserts the shape every email of the service has: multipart/alternative with exactly
    /// one text/plain and one text/html part.
    #[track_caller]
    pub fn assert_alternative(&self) {
        assert_eq!(self.media_type(), "multipart/alternative", "{}", self.raw);
        let mut types: Vec<String> = self.parts.iter().map(Part::media_type).collect();
        types.sort();
        assert_eq!(types, ["text/html", "text/plain"], "{}", self.raw);
    }
}

fn split_head(message: &str) -> (&str, &str) {
    match message.find("\n\n") {
        Some(at) => (&message[..at], &message[at + 2..]),
        None => (message, ""),
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn parameter(content_type: &str, name: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn split_parts(body: &str, boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    // The preamble comes before the first delimiter; the epilogue after the closing one.
    for chunk in body.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let chunk = chunk.strip_suffix('\n').unwrap_or(chunk);
        let (head, body) = split_head(chunk);
        let headers = parse_headers(head);
        let encoding = header(&headers, "content-transfer-encoding").unwrap_or("7bit").to_ascii_lowercase();
        let body = match encoding.as_str() {
            "quoted-printable" => utf8(quoted_printable(body)),
            "base64" => utf8(base64(body)),
            _ => body.to_owned(),
        };
        parts.push(Part { headers, body });
    }
    parts
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("a part that is not UTF-8")
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Undoes quoted-printable (soft line breaks and `=XX`).
pub fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                match (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                    (Some(high), Some(low)) => out.push(high * 16 + low),
                    _ => panic!("bad quoted-printable escape at {i} in {text:?}"),
                }
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// Decodes standard base64, ignoring whitespace.
pub fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?} in {text:?}"),
        }
    };
    let symbols: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(symbols.len() * 3 / 4);
    for chunk in symbols.chunks(4) {
        let mut bits = 0u32;
        for (k, c) in chunk.iter().enumerate() {
            bits |= value(*c) << (18 - 6 * k);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// Decodes RFC 2047 encoded-words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header value;
/// whitespace between two adjacent encoded-words is dropped, as the RFC says.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (k, word) in value.split_whitespace().enumerate() {
        let decoded = decode_word(word);
        if k > 0 && !(previous_encoded && decoded.is_some()) {
            out.push(' ');
        }
        previous_encoded = decoded.is_some();
        out.push_str(&decoded.unwrap_or_else(|| word.to_owned()));
    }
    out
}

fn decode_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut fields = inner.splitn(3, '?');
    let (_charset, encoding, text) = (fields.next()?, fields.next()?, fields.next()?);
    let bytes = match encoding {
        "b" | "B" => base64(text),
        "q" | "Q" => quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}

#[test]
fn decodes_what_it_must() {
    assert_eq!(base64("T3JkZXIg4oCU IEE="), "Order — A".as_bytes());
    assert_eq!(quoted_printable("caf=C3=A9 =\nau lait"), "café au lait".as_bytes());
    assert_eq!(decode_words("=?utf-8?b?T3JkZXIg?= =?utf-8?q?=E2=80=94_A?= end"), "Order — A end");
    let mail = Mail::parse(
        "Content-Type: multipart/alternative;\r\n boundary=\"XYZ\"\r\n\r\npre\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XYZ\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n--XYZ--\r\n",
    );
    mail.assert_alternative();
    assert_eq!(mail.text(), "hi");
    assert_eq!(mail.html(), "<b>hi</b>");
}
