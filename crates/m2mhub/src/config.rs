//! `serve --config FILE`: a TOML file whose keys are `serve`'s flags spelled as on the command
//! line (`listen = "0.0.0.0:8080"`, `retain-contents = "30d"`, `simulated = true`). The file
//! is turned into those flags and parsed by the same parser, so it can say nothing the flags
//! cannot; a flag given on the command line wins over the file's key, and a key that is no
//! flag of `serve` is refused by name before anything starts.

use std::{
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::{Command, parser::ValueSource};

/// The flag that names the file.
const CONFIG: &str = "config";

/// `args` (the whole argv) with the flags of `serve`'s `--config FILE` put before the command
/// line's own (`--config FILE` stays, for `serve` to say where its settings came from), and
/// left out where the command line sets the same flag.
/// Any other argv comes back unchanged. `cli` is the whole command (`Cli::command()`).
pub fn expand(cli: Command, args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some(at) = subcommand_at(&cli, &args) else {
        return Ok(args);
    };
    if args[at].as_os_str() != OsStr::new("serve") {
        return Ok(args);
    }
    let Some((path, rest)) = take_config(&args[at + 1..])? else {
        return Ok(args);
    };
    // Global flags given before `serve` count as the command line's too.
    let rest: Vec<OsString> = args[1..at].iter().cloned().chain(rest).collect();
    let mut cli = cli;
    cli.build(); // global flags (--log-format) join `serve`'s own here
    let serve = cli
        .find_subcommand("serve")
        .context("the command has no serve")?
        .clone();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let flags = flags_of(&serve, &path, &text)?;
    // Which flags the command line sets. A command line clap refuses (or `--help`) keeps
    // the file's flags out of the way: clap then speaks about the command line only.
    let given = serve
        .clone()
        .try_get_matches_from(std::iter::once(OsString::from("serve")).chain(rest.clone()))
        .ok();
    let mut out: Vec<OsString> = vec![args[0].clone(), "serve".into()];
    // The command line's global flags now follow `serve`, where clap takes them as well.
    for (id, flag) in flags {
        let overridden = given
            .as_ref()
            .is_some_and(|m| m.value_source(&id) == Some(ValueSource::CommandLine));
        if !overridden {
            out.extend(flag);
        }
    }
    out.extend(rest);
    Ok(out)
}

/// Where the subcommand's name is in `args`: after the program and any global flags of `cli`
/// (`m2mhub --log-format json serve …`); `None` when something else comes first.
fn subcommand_at(cli: &Command, args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while let Some(a) = args.get(i)?.to_str() {
        let Some(long) = a.strip_prefix("--") else {
            return Some(i);
        };
        let (name, inline) = match long.split_once('=') {
            Some((n, _)) => (n, true),
            None => (long, false),
        };
        let arg = cli.get_arguments().find(|x| x.get_long() == Some(name))?;
        i += if arg.get_action().takes_values() && !inline {
            2
        } else {
            1
        };
    }
    None
}

/// Finds `--config FILE` or `--config=FILE` in `args`: the file, and `args`.
fn take_config(args: &[OsString]) -> anyhow::Result<Option<(PathBuf, Vec<OsString>)>> {
    let flag = format!("--{CONFIG}");
    let mut file = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        rest.push(a.clone());
        let given = if a.as_os_str() == OsStr::new(&flag) {
            let f = it.next().context("--config needs a file")?;
            rest.push(f.clone());
            Some(f.clone())
        } else {
            a.to_str()
                .and_then(|s| s.strip_prefix(&format!("{flag}=")))
                .map(OsString::from)
        };
        match given {
            Some(_) if file.is_some() => bail!("--config is given twice"),
            Some(f) => file = Some(PathBuf::from(f)),
            None => {}
        }
    }
    Ok(file.map(|f| (f, rest)))
}

/// The flags the TOML `text` of `path` stands for, each with the id of its argument; checked
/// by `serve`'s parser on their own, so a bad value is reported against the file.
fn flags_of(
    serve: &Command,
    path: &Path,
    text: &str,
) -> anyhow::Result<Vec<(String, Vec<OsString>)>> {
    let file = path.display();
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{file} is not valid TOML"))?;
    let mut flags = Vec::new();
    for (key, value) in &table {
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != CONFIG && !a.is_hide_set())
            .with_context(|| format!("{file}: unknown key `{key}` (serve has no --{key})"))?;
        let flag = OsString::from(format!("--{key}"));
        let takes_values = arg.get_action().takes_values();
        let scalar = |v: &toml::Value| -> anyhow::Result<OsString> {
            Ok(match v {
                toml::Value::String(s) => s.into(),
                toml::Value::Integer(i) => i.to_string().into(),
                toml::Value::Float(f) => f.to_string().into(),
                _ => bail!("{file}: key `{key}` takes a string or a number"),
            })
        };
        let mut argv = Vec::new();
        match (value, takes_values) {
            (toml::Value::Boolean(true), false) => argv.push(flag),
            (toml::Value::Boolean(false), false) => {}
            (_, false) => bail!("{file}: key `{key}` takes true or false"),
            (toml::Value::Array(items), true) => {
                for item in items {
                    argv.push(flag.clone());
                    argv.push(scalar(item)?);
                }
            }
            (v, true) => {
                argv.push(flag);
                argv.push(scalar(v)?);
            }
        }
        flags.push((arg.get_id().to_string(), argv));
    }
    let alone =
        std::iter::once(OsString::from("serve")).chain(flags.iter().flat_map(|f| f.1.clone()));
    if let Err(e) = serve.clone().try_get_matches_from(alone) {
        let why = e.kind().as_str().unwrap_or("invalid setting");
        let detail = e.to_string();
        let first = detail.lines().next().unwrap_or(why);
        bail!("{file}: {}", first.trim_start_matches("error: "));
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction};

    use super::*;

    fn serve() -> Command {
        Command::new("m2mhub").subcommand(
            Command::new("serve")
                .arg(Arg::new("listen").long("listen"))
                .arg(
                    Arg::new("max_requests")
                        .long("max-requests")
                        .value_parser(clap::value_parser!(u32)),
                )
                .arg(
                    Arg::new("simulated")
                        .long("simulated")
                        .action(ArgAction::SetTrue),
                )
                .arg(Arg::new("config").long("config")),
        )
    }

    fn argv(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn expand_with(toml: &str, args: &[&str]) -> anyhow::Result<Vec<OsString>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, toml)?;
        let path = path.to_string_lossy().into_owned();
        let args: Vec<OsString> = args
            .iter()
            .map(|a| OsString::from(a.replace("FILE", &path)))
            .collect();
        let out = expand(serve(), args)?;
        // The file's path reads FILE again, so the expected argv can name it.
        Ok(out
            .into_iter()
            .map(|a| OsString::from(a.to_string_lossy().replace(&path, "FILE")))
            .collect())
    }

    #[test]
    fn file_keys_become_flags_and_the_command_line_wins() -> anyhow::Result<()> {
        let toml = "listen = \"0.0.0.0:1\"\nmax-requests = 7\nsimulated = true\n";
        assert_eq!(
            expand_with(toml, &["m2mhub", "serve", "--config", "FILE"])?,
            argv(&[
                "m2mhub",
                "serve",
                "--listen",
                "0.0.0.0:1",
                "--max-requests",
                "7",
                "--simulated",
                "--config",
                "FILE"
            ])
        );
        assert_eq!(
            expand_with(toml, &["m2mhub", "serve", "--listen=x:2", "--config=FILE"])?,
            argv(&[
                "m2mhub",
                "serve",
                "--max-requests",
                "7",
                "--simulated",
                "--listen=x:2",
                "--config=FILE"
            ])
        );
        Ok(())
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_values_are_refused_by_name() {
        for (toml, want) in [
            ("lisen = \"x\"\n", "unknown key `lisen`"),
            ("config = \"other.toml\"\n", "unknown key `config`"),
            (
                "simulated = \"yes\"\n",
                "key `simulated` takes true or false",
            ),
            ("listen = true\n", "key `listen` takes a string or a number"),
            ("max-requests = \"many\"\n", "invalid value 'many'"),
            ("listen = \n", "is not valid TOML"),
        ] {
            let e = expand_with(toml, &["m2mhub", "serve", "--config", "FILE"])
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(e.contains(want) && e.contains("hub.toml"), "{toml}: {e}");
        }
        let e = expand_with(
            "",
            &["m2mhub", "serve", "--config", "FILE", "--config", "FILE"],
        );
        assert!(e.is_err());
    }

    #[test]
    fn global_flags_may_come_before_serve() -> anyhow::Result<()> {
        let cli = || serve().arg(Arg::new("log_format").long("log-format").global(true));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "listen = \"a:1\"\nlog-format = \"json\"\n")?;
        let file = path.to_string_lossy().into_owned();
        let out = expand(
            cli(),
            argv(&["m2mhub", "--log-format", "text", "serve", "--config", &file]),
        )?;
        assert_eq!(
            out,
            argv(&[
                "m2mhub",
                "serve",
                "--listen",
                "a:1",
                "--log-format",
                "text",
                "--config",
                &file
            ])
        );
        Ok(())
    }

    #[test]
    fn other_commands_pass_through() -> anyhow::Result<()> {
        let args = argv(&["m2mhub", "verify", "--config", "x"]);
        assert_eq!(expand(serve(), args.clone())?, args);
        Ok(())
    }
}
