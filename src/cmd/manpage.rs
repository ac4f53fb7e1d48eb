//! `amqpctl manpage`: the manual page in roff, generated from the clap
//! definitions (one section per subcommand) and the exit-status table.

use clap::Command;

use super::io::output::write_stdout;
use crate::error::{Error, Exit};

// Rendered into memory first: a closed stdout must stay a quiet exit.

/// The manual page's NAME line after `amqpctl \-`: the `about` of `--help`
/// without the name it starts with there.
const MAN_ABOUT: &str = "publish, consume and declare on a RabbitMQ (AMQP 0-9-1) broker";

/// One roff document: the top command's page, a section per subcommand
/// (nested ones too, such as `declare queue`) with its synopsis,
/// description and options, and the exit statuses: `amqpctl manpage`.
pub fn run() -> Result<(), Error> {
    let mut cmd = super::command().about(MAN_ABOUT);
    cmd.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(rendering)?;
    let mut subs = Vec::new();
    subcommands(&cmd, &mut subs);
    for sub in subs {
        subcommand_section(&mut page, sub)?;
    }
    exit_status_section(&mut page);
    write_stdout(&page)
}

fn rendering(e: std::io::Error) -> Error {
    Error::io("rendering the manual page", e)
}

/// Every visible subcommand under `cmd`, depth first.
fn subcommands<'a>(cmd: &'a Command, out: &mut Vec<&'a Command>) {
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        out.push(sub);
        subcommands(sub, out);
    }
}

/// `.SH "AMQPCTL DECLARE QUEUE"`, then the subcommand's own sections as
/// subsections. The connection options, which every subcommand takes, are
/// left to the top's OPTIONS.
fn subcommand_section(page: &mut Vec<u8>, sub: &Command) -> Result<(), Error> {
    let path = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
    let sub = sub
        .clone()
        .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
    let man = clap_mangen::Man::new(sub.clone());
    let mut parts = Vec::new();
    man.render_synopsis_section(&mut parts).map_err(rendering)?;
    man.render_description_section(&mut parts)
        .map_err(rendering)?;
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut parts).map_err(rendering)?;
    }
    if sub.has_subcommands() {
        man.render_subcommands_section(&mut parts)
            .map_err(rendering)?;
    }
    page.extend_from_slice(format!(".SH \"{}\"\n", path.to_uppercase()).as_bytes());
    for line in String::from_utf8_lossy(&parts).lines() {
        // Each part repeats the apostrophe preamble of a whole page.
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            continue;
        }
        match line.strip_prefix(".SH ") {
            Some(heading) => page.extend_from_slice(format!(".SS {heading}").as_bytes()),
            None => page.extend_from_slice(line.as_bytes()),
        }
        page.push(b'\n');
    }
    Ok(())
}

/// The README's exit-status table as a roff section.
fn exit_status_section(page: &mut Vec<u8>) {
    page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for status in Exit::TABLE {
        let (code, meaning) = (status.label(), status.meaning());
        page.extend_from_slice(format!(".TP\n{}\n{}\n", roff(&code), roff(meaning)).as_bytes());
    }
}

/// Text for a roff line: backslashes and dashes escaped, `code` in bold,
/// and no line that starts like a request.
fn roff(text: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            c => out.push(c),
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}
