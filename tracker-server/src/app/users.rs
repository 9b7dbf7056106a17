//! Adding a user: the same steps for the API, the web page and the `tracker-server user add`
//! command.

use crate::{
    audit,
    auth::{self, Permission, Principal, Role},
    storage::Db,
    Result,
};

/// A user to add, as the caller gave it.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
}

/// Add a user and write the `user.create` audit row, in one transaction. Hashing the password
/// (argon2) takes a noticeable time on purpose, so this blocks: call it from a blocking thread,
/// or use [`add_user`] from async code. Returns the new user's id.
pub fn add_user_blocking(db: &Db, who: &Principal, n: NewUser) -> Result<i64> {
    who.require(Permission::ManageUsers)?;
    let hash = auth::hash_password(&n.password)?;
    let who = who.clone();
    db.write_blocking(move |c| {
        let id = auth::insert_user(c, &n.username, &n.display_name, n.role, &hash)?;
        audit::record(
            c,
            &who,
            "user.create",
            None,
            None,
            &format!("user {} as {}", n.username, n.role.as_str()),
        )?;
        Ok(id)
    })
}

/// [`add_user_blocking`] on a blocking thread.
pub async fn add_user(db: &Db, who: &Principal, n: NewUser) -> Result<i64> {
    let (db, who) = (db.clone(), who.clone());
    tokio::task::spawn_blocking(move || add_user_blocking(&db, &who, n)).await?
}
