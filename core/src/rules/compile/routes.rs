//! `[[route]]` rules: conditions, the action, and a route's own quota and puzzle.

use std::sync::Arc;

use regex::RegexBuilder;
use toml::Spanned;

use super::challenge::PuzzleDefaults;
use super::Ctx;
use crate::request::glob::{self, PathGlobs};
use crate::request::path::PathPrefix;
use crate::request::{Action, Route};
use crate::rules::defaults;
use crate::rules::error::one_line;
use crate::rules::raw::RawRoute;

impl Ctx<'_, '_> {
    pub(super) fn routes(
        &mut self,
        raw: &[RawRoute],
        inherited: &PuzzleDefaults,
        case_sensitive: bool,
    ) -> Vec<Route> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for r in raw {
            let name = r.name.get_ref().as_str();
            let label = format!("route {name:?}");
            if name.trim().is_empty() {
                self.errs.at(r.name.span(), None, "route name is empty");
            } else if seen.contains(&name) {
                self.errs
                    .at(r.name.span(), Some(&label), "duplicate route name");
            }
            seen.push(name);
            if let Some(route) = self.route(r, &label, inherited, case_sensitive) {
                out.push(route);
            }
        }
        out
    }

    fn route(
        &mut self,
        r: &RawRoute,
        label: &str,
        inherited: &PuzzleDefaults,
        case_sensitive: bool,
    ) -> Option<Route> {
        let RawRoute {
            name,
            action: _, // read by `action`
            path_prefix,
            paths,
            methods,
            host,
            user_agent,
            ja4,
            limit,
            status: _, // read by `action`
            puzzle,
            difficulty,
            range,
            pass_on_score,
            upgrade,
            nojs,
        } = r;
        let action = self.action(r, label)?;
        let puzzle = if action == Action::Challenge {
            let (bits, size) = (difficulty.as_ref(), range.as_ref());
            Some(self.puzzle(label, puzzle.as_ref(), inherited, bits, size))
        } else {
            let fields = [
                puzzle.as_ref().map(Spanned::span),
                difficulty.as_ref().map(Spanned::span),
                range.as_ref().map(Spanned::span),
                pass_on_score.as_ref().map(Spanned::span),
                nojs.as_ref().map(Spanned::span),
            ];
            if let Some(span) = fields.into_iter().flatten().next() {
                let msg = "puzzle, difficulty, range, pass_on_score and nojs are only used with action = \"challenge\"";
                self.errs.at(span, Some(label), msg);
            }
            None
        };
        if let Some(p) = path_prefix
            .as_ref()
            .filter(|p| !p.get_ref().starts_with('/'))
        {
            let msg = format!("path_prefix {:?} must start with '/'", p.get_ref());
            self.errs.at(p.span(), Some(label), msg);
        }
        if let Some(u) = upgrade
            .as_ref()
            .filter(|_| matches!(action, Action::Deny { .. }))
        {
            let msg = "upgrade is not used with action = \"deny\"";
            self.errs.at(u.span(), Some(label), msg);
        }
        let quota = limit.as_ref().map(|q| {
            if action != Action::Limit && action != Action::Challenge {
                let msg = "limit is set but action is not \"limit\" or \"challenge\"";
                self.errs.at(q.span(), Some(label), msg);
            }
            self.quota(label, q.get_ref(), defaults::LIMIT)
        });
        Some(Route {
            name: Arc::from(name.get_ref().as_str()),
            path_prefix: path_prefix
                .as_ref()
                .map(|p| PathPrefix::new(p.get_ref(), case_sensitive)),
            paths: self.paths(paths, label, case_sensitive),
            methods: methods.iter().map(|m| self.method(m, label)).collect(),
            host: host.as_ref().map(|h| h.get_ref().to_ascii_lowercase()),
            user_agent: user_agent.as_ref().and_then(|ua| self.regex(ua, label)),
            ja4: ja4.iter().map(|j| self.ja4(j, label)).collect(),
            action,
            quota,
            puzzle,
            pass_on_score: pass_on_score.as_ref().is_some_and(|p| *p.get_ref()),
            upgrade: upgrade.as_ref().is_some_and(|u| *u.get_ref()),
            nojs_wait: self.nojs(nojs.as_ref(), label),
        })
    }

    /// `paths`: each pattern checked where it is written, then all compiled into one matcher.
    fn paths(
        &mut self,
        paths: &[Spanned<String>],
        label: &str,
        case_sensitive: bool,
    ) -> Option<PathGlobs> {
        if paths.is_empty() {
            return None;
        }
        let mut globs = Vec::new();
        for p in paths {
            match glob::glob(p.get_ref(), case_sensitive) {
                Ok(g) => globs.push(g),
                Err(e) => self.errs.at(p.span(), Some(label), e.to_string()),
            }
        }
        if globs.len() < paths.len() {
            return None;
        }
        PathGlobs::of(globs)
            .map_err(|e| self.errs.at(paths[0].span(), Some(label), e.to_string()))
            .ok()
    }

    /// `nojs`: `"wait"` (a visitor without JavaScript pays in time) or `"refuse"` (the default).
    fn nojs(&mut self, nojs: Option<&Spanned<String>>, label: &str) -> bool {
        match nojs.map(|n| (n.get_ref().as_str(), n.span())) {
            None | Some(("refuse", _)) => false,
            Some(("wait", _)) => true,
            Some((other, span)) => {
                let msg = format!("nojs {other:?} is not one of \"wait\", \"refuse\"");
                self.errs.at(span, Some(label), msg);
                false
            }
        }
    }

    /// A JA4 fingerprint as logged: `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    fn ja4(&mut self, j: &Spanned<String>, label: &str) -> String {
        let s = j.get_ref();
        let parts: Vec<&str> = s.split('_').collect();
        let hexy = |p: &str| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit());
        let ok = parts.len() == 3 && parts[0].len() == 10 && hexy(parts[1]) && hexy(parts[2]);
        if !ok {
            let msg = format!("ja4 {s:?} is not a JA4 fingerprint (e.g. \"t13d1516h2_8daaf6152771_e5627efa2ab1\")");
            self.errs.at(j.span(), Some(label), msg);
        }
        s.to_ascii_lowercase()
    }

    fn regex(&mut self, ua: &Spanned<String>, label: &str) -> Option<regex::Regex> {
        let built = RegexBuilder::new(ua.get_ref()).size_limit(1 << 20).build();
        let msg = |e: regex::Error| format!("invalid user_agent regex: {}", one_line(&e));
        built
            .map_err(|e| self.errs.at(ua.span(), Some(label), msg(e)))
            .ok()
    }

    fn action(&mut self, r: &RawRoute, label: &str) -> Option<Action> {
        let status = r.status.as_ref();
        if let (Some(s), false) = (status, r.action.get_ref() == "deny") {
            let msg = "status is only used with action = \"deny\"";
            self.errs.at(s.span(), Some(label), msg);
        }
        match r.action.get_ref().as_str() {
            "allow" => Some(Action::Allow),
            "limit" => Some(Action::Limit),
            "challenge" => Some(Action::Challenge),
            "deny" => {
                let status = self.int(label, status, &defaults::DENY_STATUS) as u16;
                Some(Action::Deny { status })
            }
            other => {
                let msg = format!(
                    "action {other:?} is not one of \"allow\", \"deny\", \"limit\", \"challenge\""
                );
                self.errs.at(r.action.span(), Some(label), msg);
                None
            }
        }
    }

    fn method(&mut self, m: &Spanned<String>, label: &str) -> String {
        let s = m.get_ref();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.errs
                .at(m.span(), Some(label), format!("invalid HTTP method {s:?}"));
        }
        s.to_ascii_uppercase()
    }
}
