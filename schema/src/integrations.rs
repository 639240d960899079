//! Slack and GitHub: the button presses already acted on, the repositories
//! a project follows, the commits their webhooks report, and the commit
//! each trace ran.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{git_commits as commits, github_integrations as repos, slack_action_receipts as receipts};

/// Records a Slack request's signature; false when it was seen before (a
/// replay). Receipts older than the 5-minute window plus margin are dropped:
/// their timestamps alone get them refused.
pub async fn first_slack_receipt(conn: &mut AsyncPgConnection, signature: &str) -> QueryResult<bool> {
    diesel::delete(receipts::table.filter(receipts::received_at.lt(
        diesel::dsl::sql::<diesel::sql_types::Timestamptz>("now() - interval '10 minutes'"),
    )))
    .execute(conn)
    .await?;
    diesel::insert_into(receipts::table)
        .values(receipts::signature.eq(signature))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|n| n == 1)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = repos)]
pub struct Repository {
    pub id: Uuid,
    pub project_id: Uuid,
    pub repo_full_name: String,
    pub installation_id: Option<i64>,
    pub webhook_secret_sealed: String,
    pub created_by_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_event_at: Option<DateTime<Utc>>,
}

/// None when the project already follows that repository.
pub async fn add_repository(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    repo_full_name: &str,
    installation_id: Option<i64>,
    secret_sealed: &str,
    created_by: Option<Uuid>,
) -> QueryResult<Option<Repository>> {
    diesel::insert_into(repos::table)
        .values((
            repos::project_id.eq(project_id),
            repos::repo_full_name.eq(repo_full_name),
            repos::installation_id.eq(installation_id),
            repos::webhook_secret_sealed.eq(secret_sealed),
            repos::created_by_user_id.eq(created_by),
        ))
        .on_conflict_do_nothing()
        .returning(Repository::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn repositories(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Repository>> {
    repos::table
        .filter(repos::project_id.eq(project_id))
        .order((repos::created_at.desc(), repos::id.desc()))
        .select(Repository::as_select())
        .load(conn)
        .await
}

pub async fn remove_repository(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<usize> {
    diesel::delete(repos::table.filter(repos::project_id.eq(project_id)).find(id))
        .execute(conn)
        .await
}

/// Every project's registration of a repository (names compare without case,
/// as GitHub's do).
pub async fn registrations(conn: &mut AsyncPgConnection, repo_full_name: &str) -> QueryResult<Vec<Repository>> {
    repos::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(repo_full_name) = lower(")
                .bind::<Text, _>(repo_full_name)
                .sql(")"),
        )
        .select(Repository::as_select())
        .load(conn)
        .await
}

/// Records that a webhook arrived; `resealed` replaces the stored secret
/// (a plain one, adopted from the original, once a key can seal it).
pub async fn touch_repository(conn: &mut AsyncPgConnection, id: Uuid, resealed: Option<&str>) -> QueryResult<()> {
    let touch = diesel::update(repos::table.find(id));
    match resealed {
        Some(secret) => {
            touch
                .set((
                    repos::last_event_at.eq(diesel::dsl::now),
                    repos::webhook_secret_sealed.eq(secret),
                ))
                .execute(conn)
                .await
        }
        None => touch.set(repos::last_event_at.eq(diesel::dsl::now)).execute(conn).await,
    }
    .map(|_| ())
}

#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = commits)]
pub struct NewCommit {
    pub project_id: Uuid,
    pub integration_id: Option<Uuid>,
    pub commit_sha: String,
    pub repo_full_name: String,
    pub commit_message: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub committed_at: Option<DateTime<Utc>>,
    pub branch: Option<String>,
    pub pr_number: Option<i32>,
    pub url: Option<String>,
}

/// Records commits; a commit seen again (a push to another branch, a pull
/// request) keeps what it had and fills in what it lacked. Returns how
/// many were new.
pub async fn record_commits(conn: &mut AsyncPgConnection, new: &[NewCommit]) -> QueryResult<usize> {
    let mut added = 0;
    for c in new {
        let inserted = diesel::insert_into(commits::table)
            .values(c)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            diesel::sql_query(
                "UPDATE git_commits SET
                     commit_message = coalesce(commit_message, $3), author_name = coalesce(author_name, $4),
                     author_email = coalesce(author_email, $5), committed_at = coalesce(committed_at, $6),
                     branch = coalesce(branch, $7), pr_number = coalesce($8, pr_number), url = coalesce(url, $9)
                 WHERE project_id = $1 AND commit_sha = $2",
            )
            .bind::<SqlUuid, _>(c.project_id)
            .bind::<Text, _>(&c.commit_sha)
            .bind::<diesel::sql_types::Nullable<Text>, _>(&c.commit_message)
            .bind::<diesel::sql_types::Nullable<Text>, _>(&c.author_name)
            .bind::<diesel::sql_types::Nullable<Text>, _>(&c.author_email)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(c.committed_at)
            .bind::<diesel::sql_types::Nullable<Text>, _>(&c.branch)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Integer>, _>(c.pr_number)
            .bind::<diesel::sql_types::Nullable<Text>, _>(&c.url)
            .execute(conn)
            .await?;
        }
        added += inserted;
    }
    Ok(added)
}

/// A recorded commit and how many of the project's traces ran it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Commit {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub commit_sha: String,
    #[diesel(sql_type = Text)]
    pub repo_full_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub commit_message: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub author_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub author_email: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub committed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub branch: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    pub pr_number: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub url: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub fetched_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub trace_count: i64,
}

/// Newest first; `repo` and `branch` narrow the list, `sha` finds one
/// commit by a prefix of its hash.
pub async fn commits(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    repo: Option<&str>,
    branch: Option<&str>,
    sha: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Commit>> {
    diesel::sql_query(
        "SELECT c.id, c.commit_sha, c.repo_full_name, c.commit_message, c.author_name, c.author_email,
                c.committed_at, c.branch, c.pr_number, c.url, c.fetched_at,
                (SELECT count(*) FROM traces t WHERE t.project_id = c.project_id AND t.git_commit_sha = c.commit_sha)
                    AS trace_count
         FROM git_commits c
         WHERE c.project_id = $1
           AND ($2::text IS NULL OR lower(c.repo_full_name) = lower($2))
           AND ($3::text IS NULL OR c.branch = $3)
           AND ($4::text IS NULL OR c.commit_sha LIKE lower($4) || '%')
         ORDER BY c.committed_at DESC NULLS LAST, c.fetched_at DESC, c.id
         LIMIT $5",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<diesel::sql_types::Nullable<Text>, _>(repo)
    .bind::<diesel::sql_types::Nullable<Text>, _>(branch)
    .bind::<diesel::sql_types::Nullable<Text>, _>(sha)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// The commit a trace ran, when one is known.
pub async fn commit_of_trace(conn: &mut AsyncPgConnection, project_id: Uuid, sha: &str) -> QueryResult<Option<Commit>> {
    Ok(commits(conn, project_id, None, None, Some(sha), 1)
        .await?
        .into_iter()
        .find(|c| c.commit_sha == sha))
}
