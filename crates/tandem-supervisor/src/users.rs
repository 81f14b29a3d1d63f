//! Which uid and gid a container runs as: securityContext first, then the image's USER, looked up
//! by name in the image's own /etc/passwd and /etc/group when it is not numeric.

use tandem_api::plan::ContainerPlan;
use tandem_image::ResolvedImage;

/// Reads a file of the image as its merged rootfs would show it: the top-most layer that has it.
fn image_file(image: &ResolvedImage, rel: &str) -> Option<String> {
    image
        .layers
        .iter()
        .map(|l| l.join(rel))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::read_to_string(p).ok())
}

/// The numeric fields 2 and 3 of the entry `name` of a passwd- or group-format file (for a
/// group, field 3 is the member list and comes back as `None`).
fn lookup(db: Option<String>, name: &str) -> Option<(u32, Option<u32>)> {
    db?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f.get(3).and_then(|x| x.parse().ok()))))?
    })
}

pub fn resolve(c: &ContainerPlan, image: &ResolvedImage) -> Result<(u32, u32), String> {
    let user = image.config.user.clone().unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (user.clone(), None),
    };
    let (mut uid, mut gid) = (0u32, 0u32);
    if !u.is_empty() {
        match u.parse::<u32>() {
            Ok(n) => {
                uid = n;
                gid = lookup(image_file(image, "etc/passwd"), &u)
                    .and_then(|(_, g)| g)
                    .unwrap_or(0);
            }
            Err(_) => {
                let (found_uid, found_gid) = lookup(image_file(image, "etc/passwd"), &u)
                    .ok_or_else(|| {
                        format!(
                            "image {} runs as user {u:?}, which its /etc/passwd does not define",
                            c.image
                        )
                    })?;
                uid = found_uid;
                gid = found_gid.unwrap_or(0);
            }
        }
    }
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(image_file(image, "etc/group"), &g)
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    format!(
                        "image {} runs as group {g:?}, which its /etc/group does not define",
                        c.image
                    )
                })?,
        };
    }
    if let Some(u) = c.security.run_as_user {
        uid = u;
    }
    if let Some(g) = c.security.run_as_group {
        gid = g;
    }
    Ok((uid, gid))
}

/// The groups the image's /etc/group lists the user `uid` as a member of (by the name its
/// /etc/passwd gives that uid): what `supplementalGroupsPolicy: Merge`, the default, adds to a
/// container's groups, as containerd does.
pub fn image_groups(image: &ResolvedImage, uid: u32) -> Vec<u32> {
    let Some(name) = image_file(image, "etc/passwd").and_then(|db| {
        db.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
        })
    }) else {
        return vec![];
    };
    let groups = image_file(image, "etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3)?;
            members
                .split(',')
                .any(|m| m.trim() == name)
                .then(|| f[2].parse().ok())?
        })
        .collect()
}
