//! `label-printer`: render case-note folder labels, location cards and staff badges, send them to
//! label printers, ask printers for their status, and measure rendering speed.
//!
//! ```text
//! label-printer render --template folder --format zpl --out label.zpl \
//!     --name "MACDONALD, Morag" --chi 1904851231 --dob 19-Apr-1985 --volume 2 --of 3 \
//!     --type Main --folder-id F000012345X --filing 34-63-71 --epc 3434257BF400000000003039
//! label-printer render --template folder --format pdf --out sheet.pdf --csv folders.csv
//! label-printer print --printer tcp://zebra-ward5:9100 --csv folders.csv
//! label-printer status --printer tcp://zebra-ward5:9100
//! label-printer bench
//! ```

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use label_printer::batch::{read_folder_csv, FolderRecord};
use label_printer::bench::{bench_format, bench_labels};
use label_printer::labels::{ContainerLabel, Label, LabelStock, LocationCard, StaffBadge};
use label_printer::layout::{layout, Layout};
use label_printer::output::{pdf, png, svg, zpl, Format};
use label_printer::print_job;
use label_printer::printers::{list_usb_printers, open_printer, PrinterUrl, Timeouts};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "label-printer",
    version,
    about = "Case-note folder labels: render, print, printer status"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render labels to a file (ZPL, PNG, SVG or an A4 PDF sheet).
    Render {
        #[command(flatten)]
        label: LabelArgs,
        #[arg(long, value_enum, default_value = "zpl")]
        format: FormatArg,
        /// Output file ("-" for standard output). With --csv and png/svg, one file per label is
        /// written next to it: NAME-0001.png, NAME-0002.png, ...
        #[arg(long)]
        out: PathBuf,
        /// Copies per label (ZPL ^PQ).
        #[arg(long, default_value_t = 1)]
        copies: u32,
    },
    /// Print labels (ZPL) on a printer, after checking its status.
    Print {
        #[command(flatten)]
        label: LabelArgs,
        /// tcp://host[:9100], usb:// or usb://0a5f[:pid], lp://queue, file:///path
        #[arg(long, env = "LABEL_PRINTER")]
        printer: String,
        #[arg(long, default_value_t = 1)]
        copies: u32,
        /// Seconds to wait for a status answer.
        #[arg(long, default_value_t = 3.0)]
        timeout: f64,
    },
    /// Ask a printer for its status (~HS).
    Status {
        #[arg(long, env = "LABEL_PRINTER")]
        printer: String,
        #[arg(long, default_value_t = 3.0)]
        timeout: f64,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List USB printer-class devices (Zebra by default).
    ListUsb {
        /// List every vendor's printers, not only Zebra's.
        #[arg(long)]
        all: bool,
    },
    /// Render N folder labels in each format and print labels per second.
    Bench {
        /// Labels for ZPL; PNG, SVG and PDF use a twentieth of it (at least 100).
        #[arg(long, default_value_t = 50_000)]
        n: usize,
        #[arg(long, default_value = "100x50")]
        stock: String,
        #[arg(long, default_value_t = 203)]
        dpi: u32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Template {
    Folder,
    Location,
    Badge,
    /// A trolley, bag or crate: --name, --grai, optional --epc (GRAI-96) and --role as the note.
    Container,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Zpl,
    Png,
    Svg,
    Pdf,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Zpl => Format::Zpl,
            FormatArg::Png => Format::Png,
            FormatArg::Svg => Format::Svg,
            FormatArg::Pdf => Format::Pdf,
        }
    }
}

#[derive(Args)]
struct LabelArgs {
    #[arg(long, value_enum, default_value = "folder")]
    template: Template,
    /// CSV of many folders (columns: name, chi, dob, folder_id, volume, of, type, filing, giai,
    /// epc, reprint). Folder template only.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Label size in millimetres, WIDTHxHEIGHT.
    #[arg(long, default_value = "100x50")]
    stock: String,
    /// Printer resolution: 203 or 300.
    #[arg(long, default_value_t = 203)]
    dpi: u32,
    /// Patient name (folder), location name (location) or staff name (badge).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    chi: Option<String>,
    /// Date of birth as printed, e.g. 19-Apr-1985.
    #[arg(long)]
    dob: Option<String>,
    #[arg(long)]
    volume: Option<u32>,
    /// Number of volumes ("Vol 2 of 3").
    #[arg(long)]
    of: Option<u32>,
    /// Folder type, e.g. Main, Temporary.
    #[arg(long = "type")]
    folder_type: Option<String>,
    /// Opaque folder id (Code 128).
    #[arg(long)]
    folder_id: Option<String>,
    /// Terminal-digit filing number, e.g. 34-63-71 (default: from the folder id's digits).
    #[arg(long)]
    filing: Option<String>,
    /// GIAI value for a GS1 DataMatrix (AI 8004), e.g. 0614141000123.
    #[arg(long)]
    giai: Option<String>,
    /// EPC to write to the RFID inlay (hex), e.g. 3434257BF400000000003039.
    #[arg(long)]
    epc: Option<String>,
    /// Reprint count shown on the label ("Reprint 2").
    #[arg(long)]
    reprint: Option<u32>,
    /// Location code (LWARD5) or 13-digit GLN (location template).
    #[arg(long)]
    code: Option<String>,
    /// Staff role (badge template).
    #[arg(long)]
    role: Option<String>,
    /// Badge number (badge template).
    #[arg(long)]
    badge: Option<String>,
    /// GRAI, the value of AI 8003, e.g. 006141410000123 (container template).
    #[arg(long)]
    grai: Option<String>,
}

fn need(v: &Option<String>, flag: &str, template: &str) -> Result<String> {
    v.clone()
        .with_context(|| format!("--{flag} is required for the {template} template (or use --csv)"))
}

impl LabelArgs {
    fn stock(&self) -> Result<LabelStock> {
        Ok(LabelStock::parse(&self.stock, self.dpi)?)
    }

    /// The labels to produce: one from the flags, or every row of --csv.
    fn labels(&self) -> Result<Vec<Label>> {
        if let Some(path) = &self.csv {
            if !matches!(self.template, Template::Folder) {
                bail!("--csv is only supported for the folder template");
            }
            let f = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let v = read_folder_csv(std::io::BufReader::new(f))
                .with_context(|| format!("in {}", path.display()))?;
            if v.is_empty() {
                bail!("{} has no rows", path.display());
            }
            return Ok(v.into_iter().map(Label::Folder).collect());
        }
        Ok(vec![match self.template {
            Template::Folder => {
                let rec = FolderRecord {
                    name: need(&self.name, "name", "folder")?,
                    chi: need(&self.chi, "chi", "folder")?,
                    dob: need(&self.dob, "dob", "folder")?,
                    volume: self.volume,
                    of: self.of,
                    folder_type: self.folder_type.clone(),
                    folder_id: need(&self.folder_id, "folder-id", "folder")?,
                    filing: self.filing.clone(),
                    giai: self.giai.clone(),
                    epc: self.epc.clone(),
                    reprint: self.reprint,
                };
                Label::Folder(rec.to_label()?)
            }
            Template::Location => Label::Location(LocationCard {
                name: need(&self.name, "name", "location")?,
                code: need(&self.code, "code", "location")?,
            }),
            Template::Badge => Label::Badge(StaffBadge {
                name: need(&self.name, "name", "badge")?,
                role: need(&self.role, "role", "badge")?,
                badge: need(&self.badge, "badge", "badge")?,
            }),
            Template::Container => Label::Container(ContainerLabel {
                name: need(&self.name, "name", "container")?,
                note: self.role.clone(),
                grai: need(&self.grai, "grai", "container")?,
                epc_hex: self.epc.clone(),
            }),
        }])
    }
}

fn progress(n: usize, what: &str) -> ProgressBar {
    if n < 2 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn layouts(labels: &[Label], stock: &LabelStock) -> Result<Vec<Layout>> {
    let pb = progress(labels.len(), "layout");
    let mut out = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        out.push(layout(l, stock).with_context(|| format!("label {}", i + 1))?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

fn write_out(path: &Path, bytes: &[u8]) -> Result<()> {
    if path == Path::new("-") {
        std::io::stdout().write_all(bytes)?;
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn numbered(path: &Path, i: usize, ext: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("label");
    path.with_file_name(format!("{stem}-{:04}.{ext}", i + 1))
}

fn render(label: &LabelArgs, format: Format, out: &Path, copies: u32) -> Result<()> {
    let stock = label.stock()?;
    let labels = label.labels()?;
    let ls = layouts(&labels, &stock)?;
    let batch = label.csv.is_some();
    match format {
        Format::Zpl => {
            let mut s = String::with_capacity(ls.len() * 1024);
            for l in &ls {
                zpl::write_zpl(l, copies, &mut s);
            }
            write_out(out, s.as_bytes())?;
        }
        Format::Pdf => write_out(out, &pdf::to_pdf(&ls, &pdf::Sheet::default())?)?,
        Format::Png | Format::Svg => {
            let pb = progress(ls.len(), "render");
            for (i, l) in ls.iter().enumerate() {
                let bytes = if format == Format::Png {
                    png::to_png(l)?
                } else {
                    svg::to_svg(l)?.into_bytes()
                };
                let path = if batch {
                    numbered(out, i, format.extension())
                } else {
                    out.to_path_buf()
                };
                write_out(&path, &bytes)?;
                pb.inc(1);
            }
            pb.finish_and_clear();
        }
    }
    tracing::info!(labels = ls.len(), format = format.extension(), out = %out.display(), "rendered");
    Ok(())
}

fn timeouts(secs: f64) -> Result<Timeouts> {
    if !(0.05..=300.0).contains(&secs) {
        bail!("--timeout must be between 0.05 and 300 seconds");
    }
    Ok(Timeouts {
        read: Duration::from_secs_f64(secs),
        ..Timeouts::default()
    })
}

fn print(label: &LabelArgs, printer: &str, copies: u32, timeout: f64) -> Result<()> {
    let url = PrinterUrl::parse(printer)?;
    let stock = label.stock()?;
    let ls = layouts(&label.labels()?, &stock)?;
    let mut transport =
        open_printer(&url, timeouts(timeout)?).with_context(|| format!("printer {url}"))?;
    // Send in chunks, checking status before each, so a printer that runs out of labels
    // mid-batch stops the batch at a known point.
    let pb = progress(ls.len(), "print");
    let mut done = 0;
    for chunk in ls.chunks(50) {
        let mut z = String::with_capacity(chunk.len() * 1024);
        for l in chunk {
            zpl::write_zpl(l, copies, &mut z);
        }
        let report = print_job(&mut transport, &z, copies).with_context(|| {
            format!(
                "printer {url}: {done} of {} labels sent before this error",
                ls.len()
            )
        })?;
        done += report.formats;
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    println!("sent {done} label(s) x {copies} to {url}");
    Ok(())
}

fn status(printer: &str, timeout: f64, json: bool) -> Result<()> {
    let url = PrinterUrl::parse(printer)?;
    let mut t = open_printer(&url, timeouts(timeout)?).with_context(|| format!("printer {url}"))?;
    let s = t.status().with_context(|| format!("printer {url}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let problems = s.blocking_problems();
    if problems.is_empty() {
        println!("{url}: ready");
    } else {
        let p: Vec<String> = problems.iter().map(ToString::to_string).collect();
        println!("{url}: NOT READY: {}", p.join(", "));
    }
    for w in s.warnings() {
        println!("  warning: {w}");
    }
    println!(
        "  label length {} dots, {} format(s) waiting, {} label(s) left in batch, {}",
        s.label_length_dots,
        s.formats_in_buffer,
        s.labels_remaining,
        if s.thermal_transfer {
            "thermal transfer (ribbon)"
        } else {
            "direct thermal"
        }
    );
    if !problems.is_empty() {
        std::process::exit(3);
    }
    Ok(())
}

fn bench(n: usize, stock: &str, dpi: u32) -> Result<()> {
    let stock = LabelStock::parse(stock, dpi)?;
    let small = (n / 20).max(100);
    println!(
        "stock {}x{} mm at {} dpi, one thread",
        stock.width_mm, stock.height_mm, stock.dpi
    );
    for (format, count) in [
        (Format::Zpl, n),
        (Format::Png, small),
        (Format::Svg, small),
        (Format::Pdf, small),
    ] {
        let labels = bench_labels(count);
        let r = bench_format(format, &labels, &stock)?;
        println!(
            "{:>4}: {:>7} labels in {:>7.3} s = {:>10.0} labels/s  (avg {} bytes/label)",
            format.extension(),
            r.labels,
            r.seconds,
            r.labels_per_second(),
            r.bytes / r.labels.max(1)
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Render {
            label,
            format,
            out,
            copies,
        } => render(&label, format.into(), &out, copies),
        Cmd::Print {
            label,
            printer,
            copies,
            timeout,
        } => print(&label, &printer, copies, timeout),
        Cmd::Status {
            printer,
            timeout,
            json,
        } => status(&printer, timeout, json),
        Cmd::ListUsb { all } => {
            let list = list_usb_printers(if all {
                None
            } else {
                Some(label_printer::printers::ZEBRA_VID)
            })?;
            if list.is_empty() {
                println!("no USB printers found");
            }
            for p in list {
                println!(
                    "usb://{:04x}:{:04x}  bus {} address {}  interface {}  bulk OUT {:#04x}  bulk IN {}",
                    p.vid,
                    p.pid,
                    p.bus,
                    p.address,
                    p.interface,
                    p.endpoint_out,
                    p.endpoint_in.map_or("none".to_string(), |e| format!("{e:#04x}"))
                );
            }
            Ok(())
        }
        Cmd::Bench { n, stock, dpi } => bench(n, &stock, dpi),
    }
}
