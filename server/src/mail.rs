//! Password-reset email over SMTP (lettre), STARTTLS unless the operator
//! turned it off for a local relay.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::config::Config;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// None when no SMTP host is configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Mailer>> {
        let Some(host) = config.smtp_host() else {
            return Ok(None);
        };
        let mut builder = if config.smtp_starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        };
        builder = builder.port(config.smtp_port).timeout(Some(Duration::from_secs(15)));
        if let Some(user) = config.smtp_user() {
            builder = builder.credentials(Credentials::new(
                user.to_owned(),
                config.smtp_password().unwrap_or_default().to_owned(),
            ));
        }
        Ok(Some(Mailer {
            transport: builder.build(),
            from: config.smtp_from.parse()?,
        }))
    }

    pub async fn send_reset(&self, to: &str, token: &str) -> Result<(), String> {
        let message = reset_message(&self.from, to, token)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The reset email: the raw token and how to use it; no link, since the
/// receiver does not know the dashboard's public address.
pub fn reset_message(from: &Mailbox, to: &str, token: &str) -> Result<Message, String> {
    let to: Mailbox = to.parse().map_err(|e| format!("bad recipient: {e}"))?;
    let body = format!(
        "Someone asked to reset the password of your Strathon account.\n\n\
         Your reset token (valid for one hour, usable once):\n\n    {token}\n\n\
         Enter it on the dashboard's reset page, or send it with a new password to\n\
         POST /v1/auth/reset-password/confirm {{\"token\": \"...\", \"new_password\": \"...\"}}.\n\n\
         If this was not you, ignore this email: your password is unchanged.\n"
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject("Strathon Password Reset")
        .body(body)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_email_carries_the_token_to_the_user() {
        let from: Mailbox = "Strathon <noreply@example.com>".parse().unwrap();
        let message = reset_message(&from, "ada@example.com", "tok_123").unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains("Subject: Strathon Password Reset"), "{text}");
        assert!(text.contains("tok_123"), "{text}");
        assert!(reset_message(&from, "not an address", "t").is_err());
    }
}
