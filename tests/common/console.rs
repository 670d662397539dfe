//! The web console as a person's browser sees it: a [`Daemon`] with `[web]` on a free
//! loopback port, people added through `spdesk users add`, and an HTTP client with a cookie
//! jar per person that logs in through `/login` and sends every POST with the CSRF token the
//! page it came from carried — exactly what a browser does, without JavaScript.
#![allow(dead_code)]

use std::time::Duration;

use super::MailStack;
use super::daemon::Daemon;

pub const CONNECT: Duration = Duration::from_secs(60);

/// A password long enough for `users add`.
pub const PASSWORD: &str = "korrekt hest batteri hæfteklamme";

/// One HTTP answer: status, headers (lower-case names), body as text.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// Where the answer came from (after following redirects).
    pub url: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of the first hidden `csrf` field on the page.
    pub fn csrf(&self) -> Option<String> {
        hidden_value(&self.body, "csrf")
    }
}

/// The value of the first `<input ... name="NAME" value="...">` on a page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// A free loopback port right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// A daemon with the web console, and the people it knows.
pub struct Console {
    pub daemon: Daemon,
    pub port: u16,
}

impl Console {
    /// A daemon reading `helpdesk` on `stack` with `[web] listen` on a free port plus `web`
    /// (more `[web]` keys), started, connected to IMAP and listening.
    pub async fn start(stack: &MailStack, helpdesk: &str, web: &str) -> Console {
        let port = free_port();
        let mut daemon = Daemon::new(stack, helpdesk);
        daemon.edit_config(|t| format!("{t}\n[web]\nlisten = \"127.0.0.1:{port}\"\n{web}\n"));
        daemon.start();
        daemon.wait_log("IMAP connected", 1, CONNECT).await;
        daemon.wait_log("web server listening", 1, CONNECT).await;
        Console { daemon, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `spdesk users add NAME --role ROLE` with [`PASSWORD`].
    pub fn add_user(&self, name: &str, role: &str) {
        let file = self.daemon.dir().join(format!("password-{name}"));
        std::fs::write(&file, PASSWORD).expect("write the password file");
        let out = self.daemon.cli(&[
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-file",
            file.to_str().expect("a UTF-8 path"),
        ]);
        assert!(
            out.status.success(),
            "spdesk users add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::limited(5))
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: self.url(""),
        }
    }

    /// A browser signed in as `name` (with [`PASSWORD`]); panics when the login fails.
    pub async fn signed_in(&self, name: &str) -> Browser {
        let b = self.browser();
        let page = b.login(name, PASSWORD).await;
        assert_eq!(
            page.status, 200,
            "login as {name} should land on a page: {} {}",
            page.url, page.body
        );
        assert!(
            !page.url.contains("/login"),
            "login as {name} stayed on /login: {}",
            page.body
        );
        b
    }
}

impl Console {
    /// A browser that does not follow redirects (a POST's 303 is what a test looks at),
    /// signed in as `name` (with [`PASSWORD`]); panics when the login fails.
    pub async fn signed_in_without_redirects(&self, name: &str) -> Browser {
        let b = Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: self.url(""),
        };
        let page = b.login(name, PASSWORD).await;
        assert_eq!(page.status, 303, "login as {name}: {}", page.body);
        assert_eq!(page.header("location"), Some("/"), "login as {name}");
        b
    }
}

/// One person's browser: a cookie jar and the console's address.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browser {
    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let url = resp.url().to_string();
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
            url,
        }
    }

    /// `GET path`, following redirects.
    pub async fn get(&self, path: &str) -> Page {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Self::page(resp).await
    }

    /// `POST path` with `fields` as a form, as typed (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Self::page(resp).await
    }

    /// Opens `page_path`, then POSTs `fields` to `action` with the CSRF token that page
    /// carried, as its form would.
    pub async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        let csrf = page
            .csrf()
            .unwrap_or_else(|| panic!("{page_path} carries no csrf field: {}", page.body));
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    /// Logs in through the login form (its double-submit token included).
    pub async fn login(&self, name: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("username", name), ("password", password), ("next", "/")],
        )
        .await
    }
}
