//! Sending: SMTP (STARTTLS, auth, from `SMTP_URL`), `.eml` files, or the log. Every email is
//! multipart/alternative with a plain-text and an HTML part.
//!
//! An email's identity is its notification record's id: every attempt of one email carries the
//! same `Message-ID` (`<id@domain of EMAIL_FROM>`) and writes the same file (`<id>.eml`), so
//! an attempt repeated after a crash — the email delivered, its record not yet SENT — replaces
//! the file instead of adding one, and lets mail systems recognise the duplicate.

use crate::config::Transport;
use crate::emails::Email;
use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// A failed send.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message cannot be built (an address the mail library cannot parse): no retry
    /// will change that.
    #[error("building the message: {0}")]
    Build(String),
    /// The transport refused or failed; a later attempt may succeed.
    #[error("sending: {0}")]
    Transport(String),
}

impl SendError {
    /// Whether retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Build(_))
    }
}

/// Something that delivers emails.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `email`, whose identity is `id` (the same on every attempt).
    async fn send(&self, id: Uuid, email: &Email) -> Result<(), SendError>;
}

/// Builds the transport `transport` names.
pub fn build(transport: &Transport, from: &str) -> Result<Box<dyn Mailer>, SendError> {
    let from: Mailbox = from.parse().map_err(|e| SendError::Build(format!("sender {from:?}: {e}")))?;
    Ok(match transport {
        Transport::Smtp(url) => {
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| SendError::Build(format!("SMTP_URL: {e}")))?
                .timeout(Some(std::time::Duration::from_secs(10)))
                .build();
            Box::new(SmtpMailer { smtp, from })
        }
        Transport::Files(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| SendError::Build(format!("{}: {e}", dir.display())))?;
            Box::new(FileMailer { dir: dir.clone(), from })
        }
        Transport::Log => Box::new(LogMailer { from }),
    })
}

/// Text fit for a header: every control character (line breaks, NUL, DEL, …) becomes a
/// space, runs of whitespace become one, and the ends are trimmed. A line break in a header
/// would end it (header injection), and the mail library refuses to display a name with one
/// — by panicking.
pub fn header_text(value: &str) -> String {
    let spaced: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `Message-ID` of email `id` sent as `from`: `<id@domain>`, the same on every attempt.
pub fn message_id(from: &Mailbox, id: Uuid) -> String {
    format!("<{id}@{}>", from.email.domain())
}

/// The MIME message for email `id`. An address the mail library cannot parse is a
/// [`SendError::Build`]; names and subjects are cleaned with [`header_text`] first.
pub fn message(from: &Mailbox, id: Uuid, email: &Email) -> Result<Message, SendError> {
    let address = email.to.parse().map_err(|e| SendError::Build(format!("recipient {:?}: {e}", email.to)))?;
    let name = email.to_name.as_deref().map(header_text).filter(|n| !n.is_empty());
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(name, address))
        .subject(header_text(&email.subject))
        // lettre adds Date by itself but not Message-ID (RFC 5322 §3.6.4: SHOULD; Gmail
        // refuses mail without one); a fixed one makes a repeated attempt recognisable.
        .message_id(Some(message_id(from, id)))
        .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .map_err(|e| SendError::Build(e.to_string()))
}

/// The envelope and the bytes of email `id`.
fn render(from: &Mailbox, id: Uuid, email: &Email) -> Result<(Envelope, Vec<u8>), SendError> {
    // The inputs are cleaned above, but the mail library formats headers with `expect`s:
    // should one still fire on an input nobody thought of, it fails this email for good
    // (recorded and dead-lettered) instead of killing the consumer or the retry worker.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let message = message(from, id, email)?;
        Ok((message.envelope().clone(), message.formatted()))
    }))
    .unwrap_or_else(|_| Err(SendError::Build(format!("the mail library could not format the email to {:?}", email.to))))
}

struct SmtpMailer {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, id: Uuid, email: &Email) -> Result<(), SendError> {
        let (envelope, bytes) = render(&self.from, id, email)?;
        self.smtp.send_raw(&envelope, &bytes).await.map(|_| ()).map_err(|e| SendError::Transport(e.to_string()))
    }
}

/// Writes `<dir>/<id>.eml` (instead of lettre's file transport, which names each write by a
/// fresh UUID, so a repeated attempt would add a second email).
struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, id: Uuid, email: &Email) -> Result<(), SendError> {
        let (_, bytes) = render(&self.from, id, email)?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &format!("{id}.eml"), &bytes))
            .await
            .map_err(|e| SendError::Transport(format!("writing the .eml file: {e}")))?
            .map_err(|e| SendError::Transport(format!("writing {}: {e}", self.dir.join(format!("{id}.eml")).display())))
    }
}

/// Writes `name` in `dir` so that readers see the whole old file or the whole new one, never
/// a part: a temporary file in the same directory, flushed to disk, then renamed over `name`.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // Again on every write: the directory may have been removed or replaced since start-up.
    std::fs::create_dir_all(dir)?;
    // Hidden and without the .eml extension, so nothing reading the directory takes it for
    // an email; unique, so two concurrent attempts never write into one temporary file.
    let temporary = dir.join(format!(".{name}.{}.tmp", Uuid::new_v4().simple()));
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temporary, dir.join(name)));
    if renamed.is_err() {
        // Best effort: the write already failed and that is the error to report.
        let _ = std::fs::remove_file(&temporary);
    }
    renamed?;
    // The rename itself is durable once the directory is flushed (POSIX); where a directory
    // cannot be opened for that (Windows), the rename is still atomic.
    if let Ok(directory) = std::fs::File::open(dir) {
        let _ = directory.sync_all();
    }
    Ok(())
}

struct LogMailer {
    from: Mailbox,
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, id: Uuid, email: &Email) -> Result<(), SendError> {
        // Built like every other transport's, so an unusable address fails the same way.
        render(&self.from, id, email)?;
        tracing::info!(%id, to = %email.to, subject = %email.subject, "email (log transport)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str, name: Option<&str>, subject: &str) -> Email {
        Email {
            to: to.into(),
            to_name: name.map(str::to_owned),
            subject: subject.into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
        }
    }

    fn from() -> Mailbox {
        "Shop <no-reply@shop.local>".parse().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The raw header block of `bytes`, unfolded.
    fn headers(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes).replace("\r\n ", " ").replace("\r\n\t", " ");
        text.split("\r\n\r\n").next().unwrap_or_default().split("\r\n").map(str::to_owned).collect()
    }

    #[test]
    fn any_name_or_subject_makes_a_well_formed_message() {
        let names = [
            "A\nB",
            "A\r\nBcc: evil@example.com",
            "A\rB",
            "Nul\0Byte",
            "Del\u{7f}ete",
            "Tab\there",
            "\"Quoted\" Name",
            "Lovelace, Ada",
            "a\"b,c<d>e@f;g:h\\i",
            "\u{2028}line\u{85}separators",
            "\n\r\0",
            "",
            "Zoë Ünïcödé 名前",
        ];
        for name in names {
            let id = Uuid::now_v7();
            let mail = email("ada@example.com", Some(name), &format!("Order — {name}"));
            let (envelope, bytes) = render(&from(), id, &mail).unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_eq!(envelope.to().len(), 1, "{name:?}");
            let headers = headers(&bytes);
            let to = headers.iter().find(|h| h.starts_with("To: ")).unwrap_or_else(|| panic!("no To for {name:?}"));
            assert!(to.contains("<ada@example.com>") || to == "To: ada@example.com", "{name:?}: {to}");
            for header in &headers {
                assert!(!header.starts_with("Bcc"), "{name:?} injected a header: {headers:#?}");
                assert!(!header.chars().any(|c| c.is_control()), "{name:?}: control character in {header:?}");
            }
            assert!(headers.contains(&format!("Message-ID: <{id}@shop.local>")), "{headers:#?}");
        }
    }

    #[test]
    fn unusable_addresses_are_permanent_failures() {
        for to in ["not an address", "a\n@example.com", "ada@example.com\r\nBcc: x@y.z", "", "\0", "@", "a@"] {
            let err = render(&from(), Uuid::now_v7(), &email(to, Some("A"), "S")).err();
            let err = err.unwrap_or_else(|| panic!("{to:?} was accepted"));
            assert!(err.is_permanent(), "{to:?}: {err}");
        }
        assert!(!SendError::Transport("451".into()).is_permanent());
    }

    #[test]
    fn header_text_keeps_words_and_drops_controls() {
        assert_eq!(header_text("A\nB"), "A B");
        assert_eq!(header_text("  Ada \r\n\t Lovelace\0 "), "Ada Lovelace");
        assert_eq!(header_text("\u{7f}"), "");
        assert_eq!(header_text("\"Ada\", Lovelace"), "\"Ada\", Lovelace");
    }

    #[test]
    fn files_are_named_by_the_email_and_rewritten_in_place() {
        let dir = std::env::temp_dir().join(format!("notification-mailer-{}", Uuid::new_v4().simple()));
        let write = |body: &str| write_atomically(&dir, "x.eml", body.as_bytes());
        write("first").unwrap_or_else(|e| panic!("{e}"));
        write("second").unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_default())
            .collect();
        assert_eq!(names, ["x.eml"], "no temporary file is left behind");
        assert_eq!(std::fs::read_to_string(dir.join("x.eml")).unwrap_or_default(), "second");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
