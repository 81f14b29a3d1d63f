//! Elastic tabstops as Go's `text/tabwriter` lays them out with the settings kubectl's
//! `describe` uses (minimum width 0, padding 2, padded with spaces): text is cells ended by
//! `\t`; a column is aligned over each run of consecutive lines that have a cell in it, to its
//! widest cell plus the padding; the text after a line's last tab is not part of any column.
//! [`TabWriter::flush`] ends the runs, so what follows is laid out on its own (kubectl flushes
//! before the Events table).
//! <https://pkg.go.dev/text/tabwriter>

/// Space between a column's widest cell and the next column.
const PADDING: usize = 2;

#[derive(Default)]
pub struct TabWriter {
    out: String,
    /// Lines not laid out yet, each split into its cells (the last one not tab-terminated).
    lines: Vec<Vec<String>>,
    /// The line being written.
    partial: String,
}

impl TabWriter {
    /// Appends text; lines end with `\n`.
    pub fn write(&mut self, text: &str) {
        for (i, piece) in text.split('\n').enumerate() {
            if i > 0 {
                let line = std::mem::take(&mut self.partial);
                self.lines
                    .push(line.split('\t').map(str::to_string).collect());
            }
            self.partial.push_str(piece);
        }
    }

    /// Lays out what has been written so far.
    pub fn flush(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        let mut widths = Vec::new();
        self.format(&lines, &mut widths, 0, lines.len());
    }

    /// The finished text.
    pub fn finish(mut self) -> String {
        if !self.partial.is_empty() {
            self.write("\n");
        }
        self.flush();
        self.out
    }

    /// Lays out lines `from..to` given the widths of the columns to their left: each run of
    /// lines with a cell in the next column gets that column's width, and is laid out further
    /// the same way.
    fn format(&mut self, lines: &[Vec<String>], widths: &mut Vec<usize>, from: usize, to: usize) {
        let column = widths.len();
        let mut start = from;
        let mut this = from;
        while this < to {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, widths, start, this);
            let block = this;
            let mut width = 0;
            while this < to && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + PADDING);
                this += 1;
            }
            widths.push(width);
            self.format(lines, widths, block, this);
            widths.pop();
            start = this;
        }
        self.write_lines(lines, widths, start, to);
    }

    fn write_lines(&mut self, lines: &[Vec<String>], widths: &[usize], from: usize, to: usize) {
        for line in &lines[from..to] {
            for (j, cell) in line.iter().enumerate() {
                self.out.push_str(cell);
                if let Some(w) = widths.get(j).filter(|_| j + 1 < line.len()) {
                    let pad = w.saturating_sub(cell.chars().count());
                    self.out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            self.out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laid_out(text: &str) -> String {
        let mut w = TabWriter::default();
        w.write(text);
        w.finish()
    }

    #[test]
    fn columns_align_over_runs_of_lines_that_have_them() {
        // Expected outputs as Go's tabwriter.NewWriter(buf, 0, 8, 2, ' ', 0) prints them.
        assert_eq!(
            laid_out("Name:\tweb\nNamespace:\tdefault\nContainers:\n  app:\n    Image:\tbusybox\n"),
            "Name:       web\nNamespace:  default\nContainers:\n  app:\n    Image:  busybox\n"
        );
        assert_eq!(
            laid_out("a\tb\tc\naaa\tbbbb\tc\nx\n"),
            "a    b     c\naaa  bbbb  c\nx\n"
        );
        // A line with fewer cells ends the run of the columns it lacks only.
        assert_eq!(
            laid_out("aaaa\tb\tc\na\tbbbbbb\nz\tq\tr\n"),
            "aaaa  b  c\na     bbbbbb\nz     q  r\n"
        );
        // Empty cells still take the padding.
        assert_eq!(laid_out("\tx\n\ty\n"), "  x\n  y\n");
    }

    #[test]
    fn a_flush_starts_the_layout_afresh() {
        let mut w = TabWriter::default();
        w.write("Name:\tweb\n");
        w.flush();
        w.write("  Type\tReason\n  Normal\tStarted\n");
        assert_eq!(
            w.finish(),
            "Name:  web\n  Type    Reason\n  Normal  Started\n"
        );
    }
}
