//! The review page in a real browser: headless Chromium driven through `chromedriver` (with
//! the `fantoccini` crate) against a real server on `127.0.0.1:0` (embedded store in a temporary
//! directory, `--http-listen 127.0.0.1:0`) with seeded copies.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/test` installs them when missing); without
//! them the test fails, saying so, rather than skipping. `DEDUPD_SCREENSHOT=path` saves a screenshot
//! of the cluster view there (the README's `docs/images/review.png`).

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{
    Article, GetArticleRequest, GetClusterRequest, IngestRequest, IngestResponse, ListVerdictsRequest,
};
use dedupd::server::Server;
use dedupd::synthetic::{spun, text as article_text};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use prost_types::Timestamp;
use tokio::net::TcpListener;
use tonic::transport::Channel;

use common::free_port;

/// How long the browser may take to show what the test waits for (a bound on a wait, not a timed
/// assertion: the page has no deadline to meet).
const PATIENCE: Duration = Duration::from_secs(20);

/// A `chromedriver` on a free port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        for program in ["chromedriver", "chromium"] {
            let found = Command::new("sh").args(["-c", &format!("command -v {program}")]).output();
            assert!(
                found.is_ok_and(|o| o.status.success()),
                "{program} is not installed: the review page's browser test needs Debian's chromium and \
                 chromium-driver packages (.ci/test installs them)"
            );
        }
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A new headless Chromium session.
    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--force-prefers-reduced-motion"],
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromium session (is chromium installed?)")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server under test, its gRPC client and its HTTP address.
struct Served {
    server: Server,
    client: DeduplicatorClient<Channel>,
    http: SocketAddr,
    _data: tempfile::TempDir,
}

async fn serve() -> Served {
    let data = tempfile::tempdir().expect("data dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let config = ServeConfig {
        store: "embedded://".into(),
        data_dir: data.path().to_path_buf(),
        http_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..ServeConfig::default()
    };
    let server = Server::start(config, listener).await.expect("server starts");
    let client = DeduplicatorClient::connect(server.url()).await.expect("connect");
    let http = server.http_addr().expect("http listener");
    Served { server, client, http, _data: data }
}

fn article(id: &str, source: &str, body: String, hour: i64) -> Article {
    Article {
        id: id.into(),
        url: format!("https://{source}/{id}"),
        source: source.into(),
        title: format!("Harbour bridge approved ({id})"),
        body,
        published_at: Some(Timestamp { seconds: 1_780_000_000 + hour * 3600, nanos: 0 }),
    }
}

async fn ingest(client: &mut DeduplicatorClient<Channel>, article: Article) -> IngestResponse {
    client.ingest(IngestRequest { article: Some(article) }).await.expect("ingest").into_inner()
}

/// The WCAG contrast ratio of two `rgb(…)`/`rgba(…)` colours as `getComputedStyle` gives them.
fn contrast(foreground: &str, background: &str) -> f64 {
    fn luminance(colour: &str) -> f64 {
        let inside = colour.split_once('(').and_then(|(_, rest)| rest.split_once(')')).map(|(inside, _)| inside);
        let channels: Vec<f64> =
            inside.unwrap_or_default().split(',').take(3).filter_map(|c| c.trim().parse::<f64>().ok()).collect();
        assert_eq!(channels.len(), 3, "not an rgb colour: {colour}");
        let linear = |c: f64| {
            let c = c / 255.0;
            if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * linear(channels[0]) + 0.7152 * linear(channels[1]) + 0.0722 * linear(channels[2])
    }
    let (a, b) = (luminance(foreground), luminance(background));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

/// The text colour and the effective background colour (the first ancestor's that is not
/// transparent) of every element matching `selector`.
async fn colours(browser: &Client, selector: &str) -> Vec<(String, String)> {
    let script = r"
        const effective = (el) => {
          for (let node = el; node; node = node.parentElement) {
            const bg = getComputedStyle(node).backgroundColor;
            if (bg && bg !== 'transparent' && !bg.startsWith('rgba(0, 0, 0, 0)')) return bg;
          }
          return 'rgb(255, 255, 255)';
        };
        return Array.from(document.querySelectorAll(arguments[0]))
          .map((el) => [getComputedStyle(el).color, effective(el)]);
    ";
    let value = browser.execute(script, vec![serde_json::json!(selector)]).await.expect("read colours");
    serde_json::from_value(value).expect("pairs of colours")
}

/// Presses Tab up to `count` times from the top of the page, until focus leaves it: for each stop, the focused element's
/// accessible text (or its label's) and its computed outline style.
async fn tab_stops(browser: &Client, count: usize) -> Vec<(String, String)> {
    browser
        .execute("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);", vec![])
        .await
        .expect("blur");
    let mut stops = Vec::new();
    for _ in 0..count {
        let tab = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: Key::Tab.into() })
            .then(KeyAction::Up { value: Key::Tab.into() });
        browser.perform_actions(tab).await.expect("press Tab");
        let script = r"
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const label = el.labels && el.labels.length ? el.labels[0].textContent : el.textContent;
            return [label.trim(), getComputedStyle(el).outlineStyle];
        ";
        let stop: Option<(String, String)> =
            serde_json::from_value(browser.execute(script, vec![]).await.expect("focused element")).expect("pair");
        // past the last control focus leaves the page
        let Some(stop) = stop else { break };
        stops.push(stop);
    }
    stops
}

/// Clicks *Not a copy* on roundup-7 in its cluster, with a reason, and checks the split through the
/// gRPC API: the copy is in a cluster of its own, which the page then shows, and the verdict names it.
async fn split_a_copy_off(browser: &Client, base: &str, client: &mut DeduplicatorClient<Channel>, cluster_id: &str) {
    browser.goto(&format!("{base}/review/clusters/{cluster_id}")).await.expect("open the cluster");
    browser
        .find(Locator::Id("reason"))
        .await
        .expect("the reason field")
        .send_keys("a different story")
        .await
        .expect("type");
    let button = browser
        .find(Locator::XPath("//tr[@data-id='roundup-7']//button[starts-with(normalize-space(.), 'Not a copy')]"))
        .await
        .expect("the not-a-copy button");
    button.click().await.expect("click");
    let notice =
        browser.wait().at_most(PATIENCE).for_element(Locator::Css("p.notice")).await.expect("the split's notice");
    assert!(notice.text().await.expect("text").contains("roundup-7"), "the notice names the copy");

    let moved = client.get_article(GetArticleRequest { id: "roundup-7".into() }).await.expect("get").into_inner();
    assert_ne!(moved.cluster_id, cluster_id, "the copy left the cluster");
    assert_eq!(moved.canonical_id, "roundup-7", "and is the canonical of its own");
    let left =
        client.get_cluster(GetClusterRequest { cluster_id: cluster_id.into() }).await.expect("cluster").into_inner();
    assert!(left.members.iter().all(|m| m.id != "roundup-7"), "the old cluster no longer lists it");
    assert_eq!(left.members.first().map(|m| m.id.as_str()), Some("wire-1"));
    let current = browser.current_url().await.expect("url");
    assert!(current.path().ends_with(&moved.cluster_id), "the page shows the copy's new cluster: {current}");
    let verdicts = client.list_verdicts(ListVerdictsRequest::default()).await.expect("verdicts").into_inner();
    let last = verdicts.verdicts.first().expect("a verdict is recorded");
    assert_eq!((last.article_id.as_str(), last.reason.as_str()), ("roundup-7", "a different story"));
    assert_eq!(last.reviewer, "anonymous", "open access: the page's identity is the reviewer");
}

#[tokio::test]
async fn review_page_in_a_real_browser() {
    let driver = Driver::start();
    let mut served = serve().await;
    let base = format!("http://{}", served.http);
    let text = article_text(11, 320);
    let original = ingest(&mut served.client, article("wire-1", "wire.example", text.clone(), 0)).await;
    let hostile_body = format!(
        "{} <script>window.__pwned = 'body'</script> <img src=x onerror=\"window.__pwned = 'body img'\">",
        spun(&text, 8, 1)
    );
    let mut hostile = article("roundup-7", "roundup.example", hostile_body, 2);
    hostile.title = "<script>window.__pwned = 'title'</script><img src=x onerror=\"window.__pwned = 'img'\">".into();
    let copy = ingest(&mut served.client, hostile).await;
    assert!(copy.duplicate && copy.cluster_id == original.cluster_id, "the seeded copy is found: {copy:?}");
    for (index, source) in ["digest.example", "daily.example", "aggregator.example"].iter().enumerate() {
        let id = format!("copy-{index}");
        let decided =
            ingest(&mut served.client, article(&id, source, spun(&text, 10 * (index as u64 + 1), index as u64 + 2), 3))
                .await;
        assert_eq!(decided.cluster_id, original.cluster_id, "{id} joins the cluster");
    }

    let browser = driver.browser().await;

    // the cluster view: canonical first, every copy listed, hostile text shown as text
    browser.goto(&format!("{base}/review/clusters/{}", original.cluster_id)).await.expect("open the cluster");
    let rows = browser.find_all(Locator::Css("table.members tbody tr")).await.expect("member rows");
    assert_eq!(rows.len(), 5, "the canonical and four copies");
    assert_eq!(rows[0].attr("data-id").await.expect("attr").as_deref(), Some("wire-1"));
    let hostile_row = browser.find(Locator::Css("tr[data-id='roundup-7'] .title")).await.expect("the hostile row");
    let shown = hostile_row.text().await.expect("text");
    assert!(shown.contains("<script>window.__pwned"), "the title is shown as text: {shown:?}");
    assert!(shown.contains("<img src=x onerror="), "{shown:?}");
    let images = browser.find_all(Locator::Css("main img")).await.expect("images");
    assert!(images.is_empty(), "an <img> from article text was rendered");
    let pwned = browser.execute("return window.__pwned === undefined;", vec![]).await.expect("script");
    assert_eq!(pwned, serde_json::json!(true), "article text ran as script");
    if let Ok(path) = std::env::var("DEDUPD_SCREENSHOT") {
        let png = browser.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).expect("write the screenshot");
    }

    // side by side: shared and changed passages highlighted in both texts, hostile markup as text
    let link = browser.find(Locator::Css("tr[data-id='roundup-7'] a.title")).await.expect("the compare link");
    link.click().await.expect("open side by side");
    browser.wait().at_most(PATIENCE).for_element(Locator::Css(".side-b .text")).await.expect("the side-by-side view");
    for selector in [".side-a mark.shared", ".side-b mark.shared", ".side-a mark.changed", ".side-b mark.changed"] {
        let marks = browser.find_all(Locator::Css(selector)).await.expect("marks");
        assert!(!marks.is_empty(), "no {selector} highlighted");
    }
    let changed = browser.find(Locator::Css(".side-b mark.changed")).await.expect("a change");
    let note = changed.attr("title").await.expect("attr").unwrap_or_default();
    assert!(note.starts_with("the other text: "), "a change names what the other text has: {note:?}");
    let b_text = browser.find(Locator::Css(".side-b .text")).await.expect("text b").text().await.expect("text");
    assert!(b_text.contains("<script>window.__pwned = 'body'</script>"), "the body's script shows as text");
    assert!(b_text.contains("<img src=x onerror="), "the body's img shows as text");
    assert!(browser.find_all(Locator::Css("main img, main script")).await.expect("elements").is_empty());
    let pwned = browser.execute("return window.__pwned === undefined;", vec![]).await.expect("script");
    assert_eq!(pwned, serde_json::json!(true), "article body ran as script");
    let summary = browser.find(Locator::Css("p.summary")).await.expect("summary").text().await.expect("text");
    assert!(summary.contains("judges these copies") && summary.contains("in one cluster"), "{summary:?}");
    browser.goto(&format!("{base}/review/clusters/{}", original.cluster_id)).await.expect("back to the cluster");

    // keyboard: Tab reaches the skip link first, with a visible focus ring, and then every control,
    // the verdict buttons included
    let focused = tab_stops(&browser, 40).await;
    assert_eq!(focused.first().map(|(text, _)| text.as_str()), Some("Skip to content"), "{focused:?}");
    for (text, outline) in &focused {
        assert!(outline != "none", "{text:?} shows no focus ring");
    }
    for control in ["Find", "Not a copy: roundup-7", "Make canonical: copy-2"] {
        assert!(
            focused.iter().any(|(text, _)| text.replace('\n', "") == control),
            "{control:?} is not reachable by Tab: {focused:?}"
        );
    }

    // contrast: text meets WCAG AA
    for selector in ["td", "th", "a", "button", "caption", ".badge", "code.id", "label"] {
        for (foreground, background) in colours(&browser, selector).await {
            let ratio = contrast(&foreground, &background);
            assert!(ratio >= 4.5, "{selector}: {foreground} on {background} has contrast {ratio:.2}, below 4.5");
        }
    }

    // the live feed lists the copies found, and shows a new one without a reload
    browser.goto(&format!("{base}/review")).await.expect("open the feed");
    let listed = browser.find_all(Locator::Css("#feed tbody tr")).await.expect("feed rows");
    assert_eq!(listed.len(), 4, "the four copies found so far");
    assert_eq!(listed[0].attr("data-id").await.expect("attr").as_deref(), Some("copy-2"), "newest first");
    let late = ingest(&mut served.client, article("late-copy", "late.example", spun(&text, 4, 9), 5)).await;
    assert!(late.duplicate);
    let row = browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#feed tbody tr[data-id='late-copy']"))
        .await
        .expect("the new copy appears in the feed without a reload");
    let cells = row.text().await.expect("row text");
    assert!(cells.contains("late.example") && cells.contains("wire-1"), "{cells:?}");
    let rows = browser.find_all(Locator::Css("#feed tbody tr")).await.expect("feed rows");
    assert_eq!(rows[0].attr("data-id").await.expect("attr").as_deref(), Some("late-copy"), "at the top");
    let shown = browser.find(Locator::Css("#feed tbody tr[data-id='roundup-7']")).await.expect("hostile row");
    assert!(shown.text().await.expect("text").contains("<script>window.__pwned"), "shown as text in the feed");
    let pwned = browser.execute("return window.__pwned === undefined;", vec![]).await.expect("script");
    assert_eq!(pwned, serde_json::json!(true), "article text ran as script in the feed");

    // the per-source view: who copies, whose originals are copied
    browser.goto(&format!("{base}/review/sources")).await.expect("open the sources");
    let copied = browser.find(Locator::Css("section[aria-labelledby='copied'] tbody tr")).await.expect("a row");
    let text = copied.text().await.expect("text");
    assert!(
        text.contains("wire.example") && text.contains('5'),
        "wire.example's original was copied 5 times: {text:?}"
    );
    let copiers = browser.find_all(Locator::Css("section[aria-labelledby='copiers'] tbody tr")).await.expect("rows");
    assert_eq!(copiers.len(), 5, "five sources published copies");

    // Not a copy, clicked: the split is checked through the API
    split_a_copy_off(&browser, &base, &mut served.client, &original.cluster_id).await;

    browser.close().await.expect("close the browser");
    served.server.shutdown().await.expect("shutdown");
}
