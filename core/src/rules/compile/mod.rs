//! From raw serde structs to compiled [`Rules`], collecting every error on the way.
//!
//! Each section compiles in its own file. Every raw struct is destructured exhaustively, so a
//! field added to the file format cannot be forgotten here; every error names its section.

mod challenge;
mod connections;
mod crawlers;
mod limits;
mod lists;
mod networks;
mod routes;
mod score;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use super::defaults::Int;
use super::error::{ConfigError, Errors, InvalidRules};
use super::raw::RawRules;
use super::structure;
use super::{Mode, PathRules, Rules, SourceReader};

pub fn compile(text: &str, file: &Path, reader: &dyn SourceReader) -> Result<Rules, InvalidRules> {
    let name = file.display().to_string();
    let mut errs = Errors::new(&name, text);
    let Some(raw) = structure::parse::<RawRules>(text, &mut errs) else {
        return Err(InvalidRules { errors: errs.list });
    };
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut list_errors = Vec::new();
    let mut ctx = Ctx {
        errs: &mut errs,
        reader,
        base_dir,
        list_errors: &mut list_errors,
    };
    let rules = ctx.rules(raw, &name);
    errs.list.extend(list_errors);
    errs.list
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    if errs.list.is_empty() {
        Ok(rules)
    } else {
        Err(InvalidRules { errors: errs.list })
    }
}

pub(super) struct Ctx<'e, 'a> {
    pub(super) errs: &'e mut Errors<'a>,
    pub(super) reader: &'e dyn SourceReader,
    pub(super) base_dir: PathBuf,
    list_errors: &'e mut Vec<ConfigError>,
}

impl Ctx<'_, '_> {
    fn rules(&mut self, raw: RawRules, source: &str) -> Rules {
        let RawRules {
            mode,
            _server, // the Pingora front end's section: the core does not read it
            _fleet,  // likewise
            paths,
            clients,
            connections,
            networks,
            lists,
            limit,
            bans,
            challenge,
            clearance,
            score,
            under_attack,
            routes,
            crawlers,
            crawler_defs,
        } = raw;
        let mut list_files = self.list_paths(&lists);
        let (challenge, defaults) = self.challenge(&challenge);
        let paths = PathRules {
            case_sensitive: paths.case_sensitive.unwrap_or(false),
            reject_ambiguous: paths.reject_ambiguous.unwrap_or(true),
        };
        Rules {
            source: Arc::from(source),
            mode: self.mode(mode.as_ref()),
            paths,
            clients: self.clients(&clients),
            connections: self.connections(&connections),
            networks: self.networks(&networks),
            allow: self.list(&lists, true),
            deny: self.list(&lists, false),
            default_quota: self.default_quota(&limit),
            bans: self.bans(&bans),
            clearance: self.clearance(&clearance),
            routes: self.routes(&routes, &defaults, paths.case_sensitive),
            score: self.score(score.as_ref()),
            under_attack: self.under_attack(under_attack.as_ref(), score.as_ref()),
            challenge,
            crawlers: self.crawlers(&crawlers, &crawler_defs, &mut list_files),
            list_files,
        }
    }

    fn mode(&mut self, mode: Option<&Spanned<String>>) -> Mode {
        match mode.map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("enforce", _)) => Mode::Enforce,
            Some(("observe", _)) => Mode::Observe,
            Some(("off", _)) => Mode::Off,
            Some((other, span)) => {
                let msg = format!("mode {other:?} is not one of \"enforce\", \"observe\", \"off\"");
                self.errs.at(span, None, msg);
                Mode::Enforce
            }
        }
    }

    /// Setting `int` of section `sec` as written (`v`), or its default when absent. An
    /// out-of-range value is reported at its position and the default used.
    pub(super) fn int(&mut self, sec: &str, v: Option<&Spanned<i64>>, int: &Int) -> i64 {
        self.int_named(sec, v, int, int.key)
    }

    /// [`Ctx::int`] for a setting whose key is only known from the file (a signal's weight).
    pub(super) fn int_named(
        &mut self,
        sec: &str,
        v: Option<&Spanned<i64>>,
        int: &Int,
        key: &str,
    ) -> i64 {
        let Some(v) = v else { return int.default };
        let n = *v.get_ref();
        if (int.min..=int.max).contains(&n) {
            return n;
        }
        let msg = format!("{key} = {n} is out of range {}..={}", int.min, int.max);
        self.errs.at(v.span(), Some(sec), msg);
        int.default
    }
}
