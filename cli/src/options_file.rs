//! `-@ FILE` / `--options-file FILE`: option values for a command read from a YAML
//! file, as the reference reads them: the file maps command names to `{option:
//! value}` (options named as on the command line, without dashes), and an option
//! given on the command line wins over the file.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

/// The command line with the options file's values added as options; unchanged when
/// it names no options file.
pub fn expand(argv: Vec<OsString>, cli: &Command) -> Result<Vec<OsString>, String> {
    let args: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some((at, file, taken)) = find_options_file(&args)? else {
        return Ok(argv);
    };
    let mut rest: Vec<String> = args.clone();
    rest.drain(at..at + taken);
    let Some(command) = leaf_command(cli, &rest) else {
        return Err("-@/--options-file needs a command to apply to".into());
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("options file {file}: {e}"))?;
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("options file {file}: {e}"))?;
    let name = command.get_name().to_owned();
    let Some(options) = doc.get(name.as_str()) else {
        return Ok(rest.into_iter().map(OsString::from).collect());
    };
    let options = options
        .as_mapping()
        .ok_or_else(|| format!("options file {file}: {name} must map option names to values"))?;
    for (key, value) in options {
        let key = key
            .as_str()
            .ok_or_else(|| format!("options file {file}: option names must be text"))?;
        let arg = find_arg(command, key)
            .ok_or_else(|| format!("'{key}' is not a valid option for {name}"))?;
        if given(&rest, arg) {
            continue;
        }
        rest.extend(tokens(arg, value, &file, key)?);
    }
    Ok(rest.into_iter().map(OsString::from).collect())
}

/// Where the options file is named: the index, the file, and how many arguments
/// name it (2 for `-@ FILE`, 1 for `--options-file=FILE`).
fn find_options_file(args: &[String]) -> Result<Option<(usize, String, usize)>, String> {
    for (i, a) in args.iter().enumerate().skip(1) {
        if a == "--" {
            break;
        }
        if let Some(file) = a.strip_prefix("--options-file=") {
            return Ok(Some((i, file.to_owned(), 1)));
        }
        if let Some(file) = a.strip_prefix("-@").filter(|f| !f.is_empty()) {
            return Ok(Some((i, file.to_owned(), 1)));
        }
        if a == "-@" || a == "--options-file" {
            let file = args
                .get(i + 1)
                .ok_or_else(|| format!("{a} needs a file name"))?;
            return Ok(Some((i, file.clone(), 2)));
        }
    }
    Ok(None)
}

/// The innermost subcommand the arguments name (`export` for `valet obscore export`).
fn leaf_command<'c>(cli: &'c Command, args: &[String]) -> Option<&'c Command> {
    let mut current = cli;
    let mut found = None;
    for a in args.iter().skip(1) {
        if let Some(sub) = current.find_subcommand(a) {
            current = sub;
            found = Some(sub);
        } else if found.is_some() && !a.starts_with('-') {
            break;
        }
    }
    found
}

/// The option of `command` a file key names: its long name, its short name, or its
/// argument name with dashes for underscores.
fn find_arg<'c>(command: &'c Command, key: &str) -> Option<&'c Arg> {
    command.get_arguments().find(|a| {
        !a.is_positional()
            && (a.get_long() == Some(key)
                || a.get_short()
                    .is_some_and(|s| key.len() == s.len_utf8() && key.starts_with(s))
                || a.get_id().as_str() == key.replace('-', "_"))
    })
}

/// Whether the command line already gives this option.
fn given(args: &[String], arg: &Arg) -> bool {
    args.iter().any(|a| {
        arg.get_long()
            .is_some_and(|l| a == &format!("--{l}") || a.starts_with(&format!("--{l}=")))
            || arg
                .get_short()
                .is_some_and(|s| a.starts_with(&format!("-{s}")) && !a.starts_with("--"))
    })
}

/// The command-line arguments that give `value` to `arg`.
fn tokens(
    arg: &Arg,
    value: &serde_yaml_ng::Value,
    file: &str,
    key: &str,
) -> Result<Vec<String>, String> {
    let flag = match (arg.get_long(), arg.get_short()) {
        (Some(l), _) => format!("--{l}"),
        (None, Some(s)) => format!("-{s}"),
        (None, None) => return Err(format!("'{key}' is not a valid option")),
    };
    let is_switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    let text = |v: &serde_yaml_ng::Value| -> Result<String, String> {
        match v {
            serde_yaml_ng::Value::String(s) => Ok(s.clone()),
            serde_yaml_ng::Value::Number(n) => Ok(n.to_string()),
            serde_yaml_ng::Value::Bool(b) => Ok(b.to_string()),
            _ => Err(format!(
                "options file {file}: the value of {key} must be text, a number or a list of them"
            )),
        }
    };
    if is_switch {
        return match value {
            serde_yaml_ng::Value::Bool(true) => Ok(vec![flag]),
            serde_yaml_ng::Value::Bool(false) => Ok(vec![]),
            _ => Err(format!(
                "options file {file}: {key} is a switch: give true or false"
            )),
        };
    }
    match value {
        serde_yaml_ng::Value::Sequence(items) => items
            .iter()
            .map(|v| Ok(vec![flag.clone(), text(v)?]))
            .collect::<Result<Vec<_>, String>>()
            .map(|v| v.concat()),
        v => Ok(vec![flag, text(v)?]),
    }
}
