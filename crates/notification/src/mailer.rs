//! Sending: SMTP (STARTTLS, auth, from `SMTP_URL`), `.eml` files, or the log. Every email is
//! multipart/alternative with a plain-text and an HTML part.

use crate::config::Transport;
use crate::emails::Email;
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A failed send.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message could not be built (an unusable address).
    #[error("building the message: {0}")]
    Build(String),
    /// The transport refused or failed.
    #[error("sending: {0}")]
    Transport(String),
}

/// Something that delivers emails.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `email`.
    async fn send(&self, email: &Email) -> Result<(), SendError>;
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
            Box::new(FileMailer { files: AsyncFileTransport::<Tokio1Executor>::new(dir), from })
        }
        Transport::Log => Box::new(LogMailer),
    })
}

/// The MIME message for `email`.
pub fn message(from: &Mailbox, email: &Email) -> Result<Message, SendError> {
    let to = Mailbox::new(
        email.to_name.clone().filter(|n| !n.is_empty()),
        email.to.parse().map_err(|e| SendError::Build(format!("recipient {:?}: {e}", email.to)))?,
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        // lettre adds Date by itself but not Message-ID (RFC 5322 §3.6.4: SHOULD); some
        // receivers (Gmail) refuse mail without one.
        .message_id(None)
        .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .map_err(|e| SendError::Build(e.to_string()))
}

struct SmtpMailer {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), SendError> {
        let message = message(&self.from, email)?;
        self.smtp.send(message).await.map(|_| ()).map_err(|e| SendError::Transport(e.to_string()))
    }
}

struct FileMailer {
    files: AsyncFileTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), SendError> {
        let message = message(&self.from, email)?;
        self.files.send(message).await.map(|_| ()).map_err(|e| SendError::Transport(e.to_string()))
    }
}

struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), SendError> {
        tracing::info!(to = %email.to, subject = %email.subject, "email (log transport)");
        Ok(())
    }
}
