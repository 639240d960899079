//! `strathon admin …`: offline recovery and bootstrap, straight on the
//! database, for an operator who controls the host.

use anyhow::{bail, Context as _};
use strathon_schema::{api_keys, projects, users};

use crate::accounts::password;
use crate::cli::{Admin, AdminTask};

#[allow(clippy::print_stdout)]
pub async fn run(admin: Admin) -> anyhow::Result<()> {
    let mut conn = strathon_schema::pool::dedicated(&admin.database.url)
        .await
        .context("connecting to DATABASE_URL")?;
    match admin.task {
        AdminTask::ResetPassword { email, disable_mfa } => {
            let Some(user) = users::find_by_email(&mut conn, email.trim()).await? else {
                bail!("no user found with email '{email}'");
            };
            let temporary = password::temporary(18);
            users::set_password(
                &mut conn,
                user.id,
                &password::hash(&temporary, admin.pepper.bytes()),
                true,
            )
            .await?;
            let ended = users::delete_sessions(&mut conn, user.id, None).await?;
            if disable_mfa {
                users::disable_mfa(&mut conn, user.id).await?;
            }
            println!("Password reset successful.");
            println!("  User:               {}", user.email);
            println!("  Temporary password: {temporary}");
            println!("  Sessions ended:     {ended}");
            if disable_mfa {
                println!("  MFA:                disabled (TOTP and recovery codes cleared)");
            }
            println!("The user must choose a new password at next login. Share the temporary password over a trusted channel.");
        }
        AdminTask::ListUsers => {
            for user in users::all(&mut conn).await? {
                let memberships = users::memberships(&mut conn, user.id).await?;
                let roles: Vec<String> = memberships
                    .iter()
                    .map(|(_, _, slug, role)| format!("{slug}:{role}"))
                    .collect();
                println!(
                    "{}\t{}\t{}\t{}",
                    user.email,
                    if user.is_active { "active" } else { "deactivated" },
                    if user.locked_until.is_some_and(|t| t > chrono::Utc::now()) {
                        "locked"
                    } else {
                        "-"
                    },
                    roles.join(",")
                );
            }
        }
        AdminTask::CreateKey { project, name, scopes } => {
            let Some(p) = projects::find_by_slug(&mut conn, projects::DEFAULT_ORG_ID, &project).await? else {
                bail!("no live project with slug '{project}'");
            };
            let scopes = if scopes.is_empty() {
                vec!["*".to_owned()]
            } else {
                scopes
            };
            if let Some(bad) = scopes.iter().find(|s| !crate::auth::scope::KNOWN.contains(&s.as_str())) {
                bail!("unknown scope '{bad}'");
            }
            let minted = api_keys::mint();
            let creation = api_keys::Creation {
                project_id: p.id,
                name: &name,
                scopes: &scopes,
                expires_at: None,
                allowed_ips: None,
                rotated_from_id: None,
            };
            let key = api_keys::create(&mut conn, creation, &minted).await?;
            println!(
                "API key created for project '{project}' (id {}, scopes {}):",
                key.id,
                scopes.join(",")
            );
            println!("{}", minted.raw);
        }
    }
    Ok(())
}
