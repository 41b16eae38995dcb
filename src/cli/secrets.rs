//! Where the command line finds secrets: `COURIER_SECRET_<NAME>`, then the
//! `--secrets` file, and the hosts a secret is bound to.

use std::collections::HashMap;

use courier::functions::SecretResolver;

/// `secret("NAME")` for the command line: `COURIER_SECRET_NAME`, then the `--secrets`
/// file. A name ending in `_HOSTS` is never a secret: `COURIER_SECRET_NAME_HOSTS`
/// (or `NAME_HOSTS` in the file) binds the secret `NAME` to the hosts it lists.
pub(crate) struct CliSecrets {
    pub(crate) file: HashMap<String, String>,
}

/// The suffix of the name that binds a secret to hosts.
const HOSTS_SUFFIX: &str = "_HOSTS";

impl CliSecrets {
    fn lookup(&self, name: &str) -> Option<String> {
        std::env::var(format!("COURIER_SECRET_{name}")).ok().or_else(|| self.file.get(name).cloned())
    }
}

impl SecretResolver for CliSecrets {
    fn resolve(&self, name: &str) -> Option<String> {
        if name.ends_with(HOSTS_SUFFIX) {
            return None;
        }
        self.lookup(name)
    }

    fn allowed_hosts(&self, name: &str) -> Option<Vec<String>> {
        let hosts = self.lookup(&format!("{name}{HOSTS_SUFFIX}"))?;
        Some(hosts.split(',').map(|host| host.trim().to_owned()).filter(|host| !host.is_empty()).collect())
    }

    fn how_to_set(&self, name: &str) -> Option<String> {
        Some(format!(
            "set the environment variable COURIER_SECRET_{name}, or give {name} in a --secrets FILE (a JSON object of strings)"
        ))
    }
}
