//! What a reload changed, in words for the log. (A front end adds its own sections' changes.)

use super::Rules;

/// One line per difference between `old` and `new`; empty when nothing changed.
pub fn describe_changes(old: &Rules, new: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: {a} -> {b}"));
        }
    };
    field("mode", format!("{:?}", old.mode), format!("{:?}", new.mode));
    field(
        "paths",
        format!("{:?}", old.paths),
        format!("{:?}", new.paths),
    );
    field(
        "default limit",
        format!("{:?}", old.default_quota),
        format!("{:?}", new.default_quota),
    );
    field(
        "allow list ranges",
        old.allow.ranges().to_string(),
        new.allow.ranges().to_string(),
    );
    field(
        "deny list ranges",
        old.deny.ranges().to_string(),
        new.deny.ranges().to_string(),
    );
    field("bans", format!("{:?}", old.bans), format!("{:?}", new.bans));
    field(
        "networks",
        format!("{:?}", old.networks),
        format!("{:?}", new.networks),
    );
    field(
        "connections",
        format!("{:?}", old.connections),
        format!("{:?}", new.connections),
    );
    field(
        "clients",
        format!("{:?}", old.clients),
        format!("{:?}", new.clients),
    );
    field(
        "score",
        format!("{:?}", old.score),
        format!("{:?}", new.score),
    );
    field(
        "under_attack",
        format!("{:?}", old.under_attack),
        format!("{:?}", new.under_attack),
    );
    let crawlers = |rs: &Rules| {
        let names = rs.crawlers.iter().flat_map(|c| &c.defs).map(|d| &*d.name);
        names.collect::<Vec<_>>().join(", ")
    };
    field("crawlers", crawlers(old), crawlers(new));
    for r in &new.routes {
        match old.routes.iter().find(|o| o.name == r.name) {
            None => out.push(format!("route {:?} added", &*r.name)),
            Some(o) if format!("{o:?}") != format!("{r:?}") => {
                out.push(format!("route {:?} changed", &*r.name))
            }
            Some(_) => {}
        }
    }
    for o in &old.routes {
        if !new.routes.iter().any(|r| r.name == o.name) {
            out.push(format!("route {:?} removed", &*o.name));
        }
    }
    let order = |rs: &Rules| {
        rs.routes
            .iter()
            .map(|r| r.name.to_string())
            .collect::<Vec<_>>()
    };
    if out.is_empty() && order(old) != order(new) {
        out.push("route order changed".to_string());
    }
    out
}
