//! `m2mhub device …`: device key tools.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use ed25519_dalek::SigningKey;
use m2mhub_ledger::datadir::{random_bytes, write_private};

/// Device subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a device key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public key, hex).
    Keygen {
        /// Path prefix of the two files, e.g. `keys/door-lock`.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Keygen { out } => {
            let mut seed = [0u8; 32];
            random_bytes(&mut seed)?;
            let key = SigningKey::from_bytes(&seed);
            let public = hex::encode(key.verifying_key().as_bytes());
            let secret_path = out.with_extension("key");
            let public_path = out.with_extension("pub");
            write_private(&secret_path, format!("{}\n", hex::encode(seed)).as_bytes())
                .with_context(|| {
                    format!("writing {} (it must not exist yet)", secret_path.display())
                })?;
            std::fs::write(&public_path, format!("{public}\n"))
                .with_context(|| format!("writing {}", public_path.display()))?;
            println!("{public}");
            eprintln!(
                "secret key in {}, public key in {}; register it with\n  curl -H \"Authorization: Bearer $TOKEN\" -d '{{\"name\":\"NAME\",\"clearance\":1,\"public_key\":\"{public}\"}}' -H 'Content-Type: application/json' http://127.0.0.1:8080/v1/devices",
                secret_path.display(),
                public_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
