//! Everything the CLI prints: resource documents as YAML or JSON, Go-compatible tab-aligned
//! tables, progress lines. Conventions: results on stdout, progress, notes and warnings on
//! stderr; no colour and no animation unless stdout and stderr are terminals (clap colours
//! help the same way and honours `NO_COLOR`). A failed write is an error that keeps its I/O cause,
//! so a closed pipe (`| head`) ends the command quietly instead of panicking: `main` maps a
//! broken pipe to success.

use std::io::{self, IsTerminal as _, Write as _};

use anyhow::Context as _;

/// Output formats of `-o/--output` (upstream `common.OutputTypes`).
pub(crate) const OUTPUT_TYPES: [&str; 2] = ["json", "yaml"];

/// Writes `text` followed by a newline to stdout.
pub(crate) fn line(text: impl AsRef<str>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let written =
        out.write_all(text.as_ref().as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    written.context(STDOUT)
}

/// What a failed write to stdout says (a closed pipe, `| head`, is not reported: see `main`).
const STDOUT: &str = "cannot write to standard output";

/// Writes `text` as is to stdout.
pub(crate) fn raw(text: impl AsRef<str>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_ref().as_bytes()).and_then(|()| out.flush()).context(STDOUT)
}

/// Writes a warning or a progress note to stderr (never mixed into machine-readable stdout).
pub(crate) fn note(text: impl AsRef<str>) {
    let mut err = io::stderr().lock();
    // Nothing useful can be done when stderr itself is gone.
    let _ = writeln!(err, "{}", text.as_ref());
}

/// Whether progress may be animated: both stdout and stderr are terminals. Output piped or
/// redirected (scripts, logs, `| tee`) gets plain lines only, never dots or colour.
pub(crate) fn animate() -> bool {
    io::stdout().is_terminal() && io::stderr().is_terminal()
}

/// Reports progress of a wait on stderr: the message once, then dots while waiting when
/// [`animate`] allows it; a plain line otherwise (no spinner in logs and pipes).
pub(crate) struct Progress {
    tty: bool,
    dots: usize,
}

impl Progress {
    /// Starts a wait with `message` (e.g. `Waiting for status...`).
    pub(crate) fn start(message: &str) -> Self {
        let tty = animate();
        let mut err = io::stderr().lock();
        let _ = if tty { write!(err, "{message}") } else { writeln!(err, "{message}") };
        let _ = err.flush();
        Self { tty, dots: 0 }
    }

    /// One more polling round.
    pub(crate) fn tick(&mut self) {
        if self.tty {
            self.dots += 1;
            if self.dots.is_multiple_of(5) {
                let mut err = io::stderr().lock();
                let _ = write!(err, ".");
                let _ = err.flush();
            }
        }
    }

    /// Ends the progress line.
    pub(crate) fn finish(self) {
        if self.tty {
            let _ = writeln!(io::stderr().lock());
        }
    }
}

/// Encodes a JSON value as YAML the way upstream's `utils.Encode("yaml", ..)` prints it:
/// keys sorted, empty values left out, no leading `---` (the one codec, `skupper-yaml`).
pub(crate) fn to_yaml(value: &serde_json::Value) -> anyhow::Result<String> {
    skupper_yaml::to_yaml(value).context("encoding YAML")
}

/// Encodes a JSON value as indented JSON (upstream: two spaces, empty values left out).
pub(crate) fn to_json(value: &serde_json::Value) -> anyhow::Result<String> {
    skupper_yaml::to_json(value).context("encoding JSON")
}

/// Encodes in the format named by `-o` (`yaml` or `json`).
pub(crate) fn encode(format: &str, value: &serde_json::Value) -> anyhow::Result<String> {
    match format {
        "json" => to_json(value),
        _ => to_yaml(value),
    }
}

/// [`encode`], ending with exactly one newline: what a command prints when its whole output is
/// one document (JSON has no newline of its own, YAML has one).
pub(crate) fn document(format: &str, value: &serde_json::Value) -> anyhow::Result<String> {
    let mut text = encode(format, value)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// A table written like Go's `text/tabwriter` with padchar `'\t'` (which upstream uses for every
/// status table): cells end at a tab, each column is padded with tabs to the widest cell plus
/// `padding`, rounded up to a multiple of `tabwidth`; the last cell of a line is not aligned.
#[derive(Debug, Clone)]
pub(crate) struct TabWriter {
    minwidth: usize,
    tabwidth: usize,
    padding: usize,
    text: String,
}

impl TabWriter {
    /// `tabwriter.NewWriter(w, minwidth, tabwidth, padding, '\t', flags)`; with a tab padchar
    /// the flags do not change the output (Go clears AlignRight for tab padding).
    pub(crate) fn new(minwidth: usize, tabwidth: usize, padding: usize) -> Self {
        Self { minwidth, tabwidth: tabwidth.max(1), padding, text: String::new() }
    }

    /// Appends a line (a trailing newline is added).
    pub(crate) fn line(&mut self, text: impl AsRef<str>) {
        self.text.push_str(text.as_ref());
        self.text.push('\n');
    }

    /// The formatted table.
    pub(crate) fn render(&self) -> String {
        let body = self.text.strip_suffix('\n').unwrap_or(&self.text);
        let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
        let mut out = String::new();
        let mut widths = Vec::new();
        if !self.text.is_empty() {
            self.format(&lines, 0, lines.len(), &mut widths, &mut out);
        }
        out
    }

    // Go's `Writer.format`: a column block is a run of consecutive lines that have a cell
    // (tab-terminated) in this column; its width is fixed, then columns to the right recurse.
    fn format(&self, lines: &[Vec<&str>], line0: usize, line1: usize, widths: &mut Vec<usize>, out: &mut String) {
        let column = widths.len();
        let mut start = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, start, this, widths, out);
            start = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(lines, start, this, widths, out);
            widths.pop();
            start = this;
        }
        self.write_lines(lines, start, line1, widths, out);
    }

    fn write_lines(&self, lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
        for line in &lines[from..to] {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() {
                    let cellw = widths[j].div_ceil(self.tabwidth) * self.tabwidth;
                    let n = cellw.saturating_sub(cell.chars().count());
                    for _ in 0..n.div_ceil(self.tabwidth) {
                        out.push('\t');
                    }
                }
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_matches_go_tab_padding() {
        // Go: tabwriter.NewWriter(os.Stdout, 0, 8, 1, '\t', tabwriter.AlignRight)
        let mut tw = TabWriter::new(0, 8, 1);
        tw.line("NAME\tSTATUS\tCOST\tMESSAGE");
        tw.line("link-west-skupper-router\tReady\t1\tOK");
        assert_eq!(tw.render(), "NAME\t\t\t\tSTATUS\tCOST\tMESSAGE\nlink-west-skupper-router\tReady\t1\tOK\n");
        // A cell exactly a multiple of 8 wide still gets one tab (padding 1).
        let mut tw = TabWriter::new(0, 8, 1);
        tw.line("abcdefgh\tx");
        tw.line("a\ty");
        assert_eq!(tw.render(), "abcdefgh\tx\na\t\ty\n");
    }

    #[test]
    fn tabwriter_blocks_break_on_short_lines() {
        let mut tw = TabWriter::new(0, 8, 1);
        tw.line("a-very-long-cell\tx");
        tw.line("no tabs here");
        tw.line("b\ty");
        assert_eq!(tw.render(), "a-very-long-cell\tx\nno tabs here\nb\ty\n");
    }

    #[test]
    fn minwidth_applies() {
        let mut tw = TabWriter::new(8, 8, 1);
        tw.line("Name:\tx");
        tw.line("Has Matching Connector:\ttrue");
        assert_eq!(tw.render(), "Name:\t\t\tx\nHas Matching Connector:\ttrue\n");
    }
}
