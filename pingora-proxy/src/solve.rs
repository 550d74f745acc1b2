//! `tollgate solve`, `tollgate token` and `tollgate rotate-secret`: the command-line side of the
//! toll, for API clients, monitoring, load tests and operators.

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Deserialize;
use tollgate_core::{
    clearance_cookie_name, Clearance, Puzzle, CLEARANCE_COOKIE as COOKIE, OFFER_PATH,
    SECURE_COOKIE, VERIFY_PATH,
};
use tollgate_core::{hardest_work_bits, mint_clearance};
use tollgate_core::{solve_parallel, Work};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::cli::{RotateArgs, SolveArgs, TokenArgs};
use crate::secrets;

/// The JSON offer from `GET /.tollgate/challenge`.
#[derive(Deserialize)]
struct OfferJson {
    token: String,
    puzzle: String,
    param: u64,
    prefix: String,
    target: Option<String>,
}

/// Most bytes read from any response.
const MAX_BODY: u64 = 1 << 20;

pub fn solve(args: &SolveArgs) -> anyhow::Result<ExitCode> {
    let (origin, path) = split_url(&args.url)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .tls_config(match origin.starts_with("https://") {
            true => tls_config(args)?,
            false => TlsConfig::default(),
        })
        .build()
        .into();
    let offer_url = format!("{origin}{OFFER_PATH}?{}", query(&[("return", path)]));
    let mut resp = agent
        .get(&offer_url)
        .header("User-Agent", &args.user_agent)
        .call()
        .with_context(|| format!("GET {offer_url}"))?;
    let status = resp.status().as_u16();
    let body = read_body(resp.body_mut().as_reader())?;
    if status != 200 {
        bail!("{offer_url} answered {status}: {}", body.trim());
    }
    let offer: OfferJson = serde_json::from_str(&body).context("challenge offer is not JSON")?;
    let puzzle = Puzzle::from_kind(&offer.puzzle, offer.param)
        .with_context(|| format!("unknown puzzle {} {}", offer.puzzle, offer.param))?;
    let work = Work::new(puzzle, &offer.prefix, offer.target.as_deref())
        .context("challenge offer has a malformed prefix or target")?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let started = Instant::now();
    let (nonce, hashes) =
        solve_parallel(&work, threads).context("no answer exists in the nonce space")?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "solved {} {} in {secs:.3} s: {hashes} hashes on {threads} threads, {:.2} MH/s",
        offer.puzzle,
        offer.param,
        hashes as f64 / secs.max(1e-9) / 1e6
    );
    let nonce = nonce.to_string();
    let verify_url = format!(
        "{origin}{VERIFY_PATH}?{}",
        query(&[
            ("challenge", &offer.token),
            ("nonce", &nonce),
            ("return", path)
        ])
    );
    let resp = agent
        .get(&verify_url)
        .header("User-Agent", &args.user_agent)
        .call()
        .with_context(|| format!("GET {VERIFY_PATH}"))?;
    let status = resp.status().as_u16();
    // Over HTTPS the clearance is the `__Host-` cookie.
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let pair = v.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            [COOKIE, SECURE_COOKIE]
                .contains(&name)
                .then(|| (name.to_string(), value.to_string()))
        });
    match (status, cookie) {
        (303, Some((name, value))) => {
            print_cookie(&name, &value, args.value_only);
            Ok(ExitCode::SUCCESS)
        }
        (status, _) => bail!("verify answered {status} without a clearance"),
    }
}

/// How `solve` checks an HTTPS site's certificate: against the system's certificate
/// authorities (what `update-ca-certificates` manages), the ones in `--ca-file`, or, with
/// `--insecure`, not at all.
fn tls_config(args: &SolveArgs) -> anyhow::Result<TlsConfig> {
    let tls = TlsConfig::builder().provider(TlsProvider::Rustls);
    if args.insecure {
        eprintln!("warning: --insecure: the site's certificate is not checked");
        return Ok(tls.disable_verification(true).build());
    }
    let roots = match &args.ca_file {
        Some(file) => {
            let pem = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: not a PEM certificate file", file.display()))?;
            if certs.is_empty() {
                bail!("{}: no certificate in it", file.display());
            }
            certs
        }
        None => system_roots()?,
    };
    Ok(tls.root_certs(RootCerts::new_with_certs(&roots)).build())
}

/// The system's trusted certificate authorities (on Debian /etc/ssl/certs; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override, as for OpenSSL).
fn system_roots() -> anyhow::Result<Vec<Certificate<'static>>> {
    let found = rustls_native_certs::load_native_certs();
    for e in found.errors.iter().take(3) {
        eprintln!("warning: system certificates: {e}");
    }
    let certs: Vec<_> = found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        bail!(
            "no system certificate authorities found (install ca-certificates, or pass --ca-file)"
        );
    }
    Ok(certs)
}

fn print_cookie(name: &str, value: &str, value_only: bool) {
    if value_only {
        println!("{value}");
    } else {
        println!("{name}={value}");
    }
}

/// `http://host:port/path?q` → (`http://host:port`, `/path?q`).
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        bail!("URL must start with http:// or https://: {url}");
    };
    let scheme_len = url.len() - rest.len();
    let path_at = rest.find('/').map_or(url.len(), |i| scheme_len + i);
    let (origin, path) = url.split_at(path_at);
    Ok((origin, if path.is_empty() { "/" } else { path }))
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

fn read_body(r: impl Read) -> anyhow::Result<String> {
    let mut text = String::new();
    r.take(MAX_BODY)
        .read_to_string(&mut text)
        .context("reading response body")?;
    Ok(text)
}

pub fn token(args: &TokenArgs) -> anyhow::Result<ExitCode> {
    let config = args.rules.load()?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| config.server.state_dir.clone());
    let rules = config.rules;
    let (keys, _) = secrets::load(args.key.secret_file.as_deref(), &state_dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let grant = Clearance {
        issued_unix_secs: now,
        expires_unix_secs: now.saturating_add(args.ttl_secs.unwrap_or(rules.clearance.ttl_secs)),
        budget: args.requests.unwrap_or(rules.clearance.budget),
        work_bits: hardest_work_bits(&rules),
        serial,
    };
    let value = mint_clearance(&keys, &rules, args.ip, Some(&args.user_agent), &grant);
    let name = clearance_cookie_name(args.https);
    print_cookie(name, &value, false);
    Ok(ExitCode::SUCCESS)
}

pub fn rotate(args: &RotateArgs) -> anyhow::Result<ExitCode> {
    let file = args
        .secret_file
        .clone()
        .unwrap_or_else(|| secrets::default_file(&args.state_dir));
    if !file.exists() {
        // No key yet (a fresh install): the first one, with nothing to keep valid.
        secrets::create(&file)?;
        eprintln!("created {} with a new signing key", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    secrets::rotate(&file, args.grace_secs)?;
    eprintln!(
        "rotated {}: the old key verifies for {} s more. Reload tollgate (SIGHUP or POST /reload) to sign with the new key.",
        file.display(),
        args.grace_secs
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/a?b=c").unwrap(),
            ("http://127.0.0.1:8080", "/a?b=c")
        );
        assert_eq!(
            split_url("https://x.test").unwrap(),
            ("https://x.test", "/")
        );
        assert!(split_url("ftp://x").is_err());
    }
}
