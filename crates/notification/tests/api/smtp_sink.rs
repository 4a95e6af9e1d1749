//! An SMTP server inside the test: speaks enough ESMTP for lettre (no TLS, no AUTH), records
//! every message it accepts, and can refuse `MAIL FROM` to play a failing server (for a
//! number of attempts, for a while, or until told otherwise).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The DATA, dot-unstuffed, CRLF line endings.
    pub data: String,
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    /// `MAIL FROM` commands seen, accepted or not.
    mail_commands: usize,
    /// Refuse the next this many `MAIL FROM`s (`usize::MAX`: all of them).
    refuse: usize,
    /// Refuse every `MAIL FROM` until then.
    refuse_until: Option<Instant>,
    /// The reply to a refused `MAIL FROM`.
    refusal: String,
}

/// A running sink; stops when dropped.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:<port>`: plain SMTP, no STARTTLS.
    pub url: String,
    state: Arc<Mutex<State>>,
    shutdown: CancellationToken,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl SmtpSink {
    /// Starts a sink that accepts everything.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the SMTP sink");
        let url = format!("smtp://{}", listener.local_addr().expect("SMTP sink address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shutdown = CancellationToken::new();
        tokio::spawn({
            let (state, shutdown) = (state.clone(), shutdown.clone());
            async move {
                loop {
                    let stream = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                    };
                    let (state, shutdown) = (state.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = session(stream, state) => {}
                        }
                    });
                }
            }
        });
        SmtpSink { url, state, shutdown }
    }

    /// Refuses every `MAIL FROM` from now on with `reply` (`451 …` transient, `554 …`
    /// permanent).
    pub fn refuse_all(&self, reply: &str) {
        self.refuse(usize::MAX, reply);
    }

    /// Refuses the next `count` `MAIL FROM`s with `reply`, then accepts again.
    pub fn refuse(&self, count: usize, reply: &str) {
        let mut state = self.state.lock().expect("sink state");
        state.refuse = count;
        state.refusal = reply.to_owned();
    }

    /// Refuses every `MAIL FROM` for `window` from now with `reply`, then accepts again.
    pub fn refuse_for(&self, window: Duration, reply: &str) {
        let mut state = self.state.lock().expect("sink state");
        state.refuse_until = Some(Instant::now() + window);
        state.refusal = reply.to_owned();
    }

    /// Accepts everything from now on.
    pub fn accept(&self) {
        let mut state = self.state.lock().expect("sink state");
        state.refuse = 0;
        state.refuse_until = None;
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("sink state").received.clone()
    }

    /// How many `MAIL FROM` commands arrived (one per delivery attempt that got that far).
    pub fn mail_commands(&self) -> usize {
        self.state.lock().expect("sink state").mail_commands
    }
}

fn address(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument.find('>').unwrap_or(argument.len());
    argument[start..end].to_owned()
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-sink.test greets you\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 10485760".into(),
            "HELO" => "250 sink.test".into(),
            "MAIL" => {
                let mut state = state.lock().expect("sink state");
                state.mail_commands += 1;
                if state.refuse_until.is_some_and(|until| Instant::now() < until) {
                    state.refusal.clone()
                } else if state.refuse > 0 {
                    if state.refuse != usize::MAX {
                        state.refuse -= 1;
                    }
                    state.refusal.clone()
                } else {
                    from = address(&command);
                    to.clear();
                    "250 2.1.0 OK".into()
                }
            }
            "RCPT" => {
                to.push(address(&command));
                "250 2.1.5 OK".into()
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(unstuffed);
                }
                let message = Received { from: std::mem::take(&mut from), to: std::mem::take(&mut to), data };
                state.lock().expect("sink state").received.push(message);
                "250 2.0.0 queued".into()
            }
            "RSET" => {
                from.clear();
                to.clear();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognised".into(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}
