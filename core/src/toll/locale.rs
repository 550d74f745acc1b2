//! The challenge page's languages: one file per language in `locales/`, compiled into a table
//! by the build script (which checks every file has `en.toml`'s keys).

include!(concat!(env!("OUT_DIR"), "/locales.rs"));
