//! `[dashboard]`: who may act on `ripcord serve`'s page, each person with the environment
//! variable holding their token. The plan names people and variables, never a token;
//! `serve` reads the variables when it starts.

use super::Problems;
use super::raw::RawPlan;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DashboardPlan {
    /// (person, environment variable holding their token).
    pub tokens: Vec<(String, String)>,
}

fn person_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
}

pub(super) fn validate(raw: &RawPlan, p: &mut Problems) -> DashboardPlan {
    let mut out = DashboardPlan::default();
    let Some(d) = &raw.dashboard else {
        return out;
    };
    for t in &d.get_ref().tokens {
        let x = t.get_ref();
        if !person_ok(&x.name) {
            p.at(
                t,
                format!(
                    "[dashboard] token of {:?}: a person's name is letters, digits and . _ - @",
                    x.name
                ),
                "bad name",
                None,
            );
            continue;
        }
        let env_ok = !x.token_env.is_empty()
            && x.token_env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !x.token_env.starts_with(|c: char| c.is_ascii_digit());
        if !env_ok {
            p.at(
                t,
                format!(
                    "[dashboard] token of {:?}: token_env {:?} is not an environment variable's name",
                    x.name, x.token_env
                ),
                "not a variable name",
                Some("the name of the variable holding the token, e.g. token_env = \"RIPCORD_TOKEN_ALICE\""),
            );
            continue;
        }
        if out.tokens.iter().any(|(n, _)| *n == x.name) {
            p.at(
                t,
                format!("[dashboard]: {:?} is named twice", x.name),
                "named twice",
                None,
            );
            continue;
        }
        out.tokens.push((x.name.clone(), x.token_env.clone()));
    }
    out
}
