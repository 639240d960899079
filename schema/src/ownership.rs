//! Ownership transfers: an owner offers a project to one of its admins,
//! who accepts (roles swap) or either side rejects. A row is an open
//! offer; the audit log keeps what became of it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{ownership_transfers, project_members, projects, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ownership_transfers)]
pub struct Transfer {
    pub id: Uuid,
    pub project_id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Opens an offer, replacing the project's previous open one.
pub async fn offer(conn: &mut AsyncPgConnection, project_id: Uuid, from: Uuid, to: Uuid) -> QueryResult<Transfer> {
    diesel::insert_into(ownership_transfers::table)
        .values((
            ownership_transfers::project_id.eq(project_id),
            ownership_transfers::from_user_id.eq(from),
            ownership_transfers::to_user_id.eq(to),
        ))
        .on_conflict(ownership_transfers::project_id)
        .do_update()
        .set((
            ownership_transfers::id.eq(Uuid::new_v4()),
            ownership_transfers::from_user_id.eq(from),
            ownership_transfers::to_user_id.eq(to),
            ownership_transfers::created_at.eq(diesel::dsl::now),
        ))
        .returning(Transfer::as_returning())
        .get_result(conn)
        .await
}

/// Locks the offer for the rest of the transaction.
pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Transfer>> {
    ownership_transfers::table
        .find(id)
        .select(Transfer::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn close(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::delete(ownership_transfers::table.find(id)).execute(conn).await
}

/// Offers addressed to the user, with the offering owner's name and email
/// and the project's name.
pub async fn addressed_to(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(Transfer, Option<String>, String, String)>> {
    ownership_transfers::table
        .inner_join(users::table.on(users::id.eq(ownership_transfers::from_user_id)))
        .inner_join(projects::table)
        .filter(ownership_transfers::to_user_id.eq(user_id))
        .filter(projects::deleted_at.is_null())
        .order(ownership_transfers::created_at.asc())
        .select((Transfer::as_select(), users::display_name, users::email, projects::name))
        .load(conn)
        .await
}

/// Swaps the roles: the recipient becomes owner, the previous owner admin.
pub async fn complete(conn: &mut AsyncPgConnection, t: &Transfer) -> QueryResult<()> {
    for (user, role) in [(t.from_user_id, "admin"), (t.to_user_id, "owner")] {
        diesel::update(project_members::table.find((t.project_id, user)))
            .set(project_members::role.eq(role))
            .execute(conn)
            .await?;
    }
    close(conn, t.id).await?;
    Ok(())
}

/// The project's owner (the longest-standing one if, unusually, there are several).
pub async fn owner(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Option<Uuid>> {
    project_members::table
        .filter(project_members::project_id.eq(project_id))
        .filter(project_members::role.eq("owner"))
        .order(project_members::created_at.asc())
        .select(project_members::user_id)
        .first(conn)
        .await
        .optional()
}
