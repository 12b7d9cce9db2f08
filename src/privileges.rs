//! `--user NAME[:GROUP]`: once the listening sockets are bound (ports
//! below 1024 included) and the certificates read, run as another user
//! and group, with no supplementary groups.
//!
//! Names are looked up in `/etc/passwd` and `/etc/group` (numeric ids are
//! taken as they are). The switch is made on the thread that binds,
//! before any other thread starts, so that every thread the server starts
//! afterwards runs as the new user; a switch that does not take leaves
//! the server refusing to go on as root.

use std::path::Path;

use crate::platform::process;

/// Who the server runs as after binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// As given on the command line.
    pub spec: String,
    /// The user id.
    pub uid: u32,
    /// The group id: the one named, else the user's primary group.
    pub gid: u32,
}

/// Finds `name` (or a numeric id) in a colon-separated database file,
/// returning its fields.
fn lookup(file: &Path, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|fields| fields.len() > 3 && (fields[0] == name || fields[2] == name))
}

/// Resolves `NAME[:GROUP]` with the system's user and group files.
pub fn resolve(spec: &str) -> Result<RunAs, String> {
    if let Err(why) = process::SWITCH_USER {
        return Err(format!("--user is Unix-only: {why}"));
    }
    resolve_in(spec, Path::new("/etc/passwd"), Path::new("/etc/group"))
}

fn resolve_in(spec: &str, passwd: &Path, group: &Path) -> Result<RunAs, String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || grp.is_some_and(str::is_empty) {
        return Err(format!("--user {spec:?}: expected NAME or NAME:GROUP"));
    }
    let (uid, primary) = match lookup(passwd, user) {
        Some(fields) => (
            fields[2]
                .parse()
                .map_err(|_| format!("--user {spec}: bad entry in {}", passwd.display()))?,
            fields[3].parse().ok(),
        ),
        None => match user.parse::<u32>() {
            Ok(uid) => (uid, None),
            Err(_) => return Err(format!("--user {spec}: no such user")),
        },
    };
    let gid = match grp {
        Some(g) => match lookup(group, g) {
            Some(fields) => fields[2]
                .parse()
                .map_err(|_| format!("--user {spec}: bad entry in {}", group.display()))?,
            None => g
                .parse::<u32>()
                .map_err(|_| format!("--user {spec}: no such group {g}"))?,
        },
        None => primary.unwrap_or(uid),
    };
    Ok(RunAs {
        spec: spec.to_string(),
        uid,
        gid,
    })
}

/// Switches this thread (and every thread started after) to `who`, with
/// no supplementary groups, and checks that the switch took.
pub fn drop_to(who: &RunAs) -> Result<(), String> {
    process::switch_user(who.uid, who.gid).map_err(|(what, e)| {
        format!("--user {}: cannot {what}: {e}; refusing to go on", who.spec)
    })?;
    let (uid, euid, gid, egid) = process::ids();
    let took = uid == who.uid && euid == who.uid && gid == who.gid && egid == who.gid;
    if !took || (who.uid != 0 && euid == 0) {
        return Err(format!(
            "--user {}: still running as another user; refusing to go on",
            who.spec
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let group = dir.path().join("group");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(&group, "root:x:0:\nwww-data:x:34:\nstaff:x:50:\n").unwrap();
        let r = |s: &str| resolve_in(s, &passwd, &group);
        assert_eq!((r("www").unwrap().uid, r("www").unwrap().gid), (33, 34));
        assert_eq!(r("www:staff").unwrap().gid, 50);
        assert_eq!(r("1000").unwrap().uid, 1000);
        assert_eq!(r("1000:7").unwrap().gid, 7);
        assert!(r("nobody-here").unwrap_err().contains("no such user"));
        assert!(r("www:nogroup").unwrap_err().contains("no such group"));
        assert!(r("www:").is_err());
    }
}
