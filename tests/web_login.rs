//! Signing in to the web console over real HTTP against the real `spdesk run`: a person logs
//! in and out, a wrong password and an unknown name get the same answer, the throttle stops
//! a sixth wrong password for one name, a POST without the page's CSRF token is refused, a
//! page without a session sends the browser to `/login`, an expired or disabled person's
//! session opens nothing, and a trusted proxy's SSO header is believed from that proxy only.

mod common;

use common::MailStack;
use common::console::{Console, PASSWORD};

/// A client that shows redirects instead of following them, with no cookies: a request as
/// a proxy or a link from elsewhere sends it.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

#[tokio::test]
async fn a_person_logs_in_sees_the_queue_and_logs_out() {
    let stack = MailStack::shared(&["login.ok@example.test"]);
    let c = Console::start(&stack, "login.ok@example.test", "").await;
    c.add_user("kim", "operator");

    let anonymous = c.browser();
    let page = anonymous.get("/").await;
    assert!(
        page.url.contains("/login?next=%2F"),
        "no session: to /login, was {}",
        page.url
    );
    assert!(page.body.contains("Log ind"), "{}", page.body);
    for field in ["name=\"username\"", "name=\"password\""] {
        assert!(page.body.contains(field), "login form lacks {field}");
    }

    let kim = c.browser();
    let page = kim.login("Kim", PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.url.ends_with('/'), "lands on the queue: {}", page.url);
    assert!(page.body.contains("kim (operator)"), "{}", page.body);

    let out = kim.submit("/", "/logout", &[]).await;
    assert!(out.url.contains("/login"), "{}", out.url);
    let page = kim.get("/").await;
    assert!(page.url.contains("/login"), "logged out: {}", page.url);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_get_the_same_answer_and_the_throttle_stops_guessing()
{
    let stack = MailStack::shared(&["login.bad@example.test"]);
    let c = Console::start(&stack, "login.bad@example.test", "").await;
    c.add_user("bo", "viewer");

    let b = c.browser();
    let wrong = b.login("bo", "not the password at all").await;
    let unknown = b.login("nobody", "not the password at all").await;
    for (what, page) in [("wrong password", &wrong), ("unknown name", &unknown)] {
        assert_eq!(page.status, 401, "{what}: {}", page.body);
        assert!(
            page.body.contains("Forkert brugernavn eller adgangskode."),
            "{what}: {}",
            page.body
        );
    }
    // Blanks around the name make no new name to guess under.
    for variant in [" bo", "bo ", "\tbo", "\u{a0}bo"] {
        let page = b.login(variant, "still not the password").await;
        assert_eq!(page.status, 401, "{}", page.body);
    }
    // Five failures for "bo": the right password now waits too.
    let page = b.login("bo", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(
        page.body
            .contains("For mange forkerte forsøg for denne bruger"),
        "{}",
        page.body
    );
    // Another name from the same address is not locked out by bo's failures.
    c.add_user("eva", "viewer");
    let eva = c.browser().login("eva", PASSWORD).await;
    assert_eq!(eva.status, 200, "{}", eva.body);
    assert!(!eva.url.contains("/login"), "{}", eva.url);
}

#[tokio::test]
async fn a_post_without_the_pages_csrf_token_is_refused() {
    let stack = MailStack::shared(&["login.csrf@example.test"]);
    let c = Console::start(&stack, "login.csrf@example.test", "").await;
    c.add_user("kim", "operator");
    let kim = c.signed_in("kim").await;

    let page = kim.post_raw("/logout", &[]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("Siden var for gammel"), "{}", page.body);
    let page = kim
        .post_raw("/logout", &[("csrf", "0123456789abcdef")])
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    // Still signed in: the refused POSTs did nothing.
    let page = kim.get("/").await;
    assert!(page.body.contains("kim (operator)"), "{}", page.body);

    // The login form refuses a POST without its own token.
    let b = c.browser();
    let page = b
        .post_raw("/login", &[("username", "kim"), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(b.get("/").await.url.contains("/login"));
}

#[tokio::test]
async fn an_expired_session_or_a_disabled_person_opens_nothing() {
    let stack = MailStack::shared(&["login.expiry@example.test"]);
    let c = Console::start(&stack, "login.expiry@example.test", "").await;
    c.add_user("kim", "operator");
    c.add_user("bo", "operator");
    let kim = c.signed_in("kim").await;
    let bo = c.signed_in("bo").await;

    // Kim's session reaches its end (session_hours later).
    let pool = c.daemon.pool().await;
    sqlx::query(
        "UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000000Z'
         WHERE user_id = (SELECT id FROM users WHERE name = 'kim')",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(kim.get("/").await.url.contains("/login"), "expired");

    let out = c.daemon.cli(&["users", "disable", "bo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bo.get("/").await.url.contains("/login"), "disabled");
    let page = c.browser().login("bo", PASSWORD).await;
    assert_eq!(
        page.status, 401,
        "a disabled person cannot log in: {}",
        page.body
    );
}

#[tokio::test]
async fn the_sso_header_is_believed_from_the_trusted_proxy_only() {
    let stack = MailStack::shared(&["login.sso@example.test"]);
    let c = Console::start(
        &stack,
        "login.sso@example.test",
        "trusted_proxy_header = \"X-Remote-User\"\ntrusted_proxies = [\"127.0.0.1\"]",
    )
    .await;
    c.add_user("kim", "viewer");
    let client = reqwest::Client::new();
    let page = client
        .get(c.url("/"))
        .header("X-Remote-User", "kim")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("kim (viewer)"));
    let page = client
        .get(c.url("/"))
        .header("X-Remote-User", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403, "a name spdesk does not know");
    // Two values (a proxy that adds rather than replaces): no one.
    let page = no_redirects()
        .get(c.url("/"))
        .header("X-Remote-User", "mallory")
        .header("X-Remote-User", "kim")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        303,
        "several SSO values are believed for no one"
    );

    let c2 = Console::start(
        &stack,
        "login.sso@example.test",
        "trusted_proxy_header = \"X-Remote-User\"\ntrusted_proxies = [\"10.9.8.7\"]",
    )
    .await;
    c2.add_user("kim", "viewer");
    let page = no_redirects()
        .get(c2.url("/"))
        .header("X-Remote-User", "kim")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        303,
        "not from the proxy: the header is ignored"
    );
}

#[tokio::test]
async fn a_link_from_another_site_reloads_from_ours_so_the_strict_cookie_is_sent() {
    let stack = MailStack::shared(&["login.link@example.test"]);
    let c = Console::start(&stack, "login.link@example.test", "").await;
    // A staff mail's link opened in webmail: a top-level navigation from another site, for
    // which the browser holds the SameSite=Strict cookie back.
    let page = no_redirects()
        .get(c.url("/brugere?x=1"))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("<meta http-equiv=\"refresh\" content=\"0;url=&#x2f;brugere?x=1\">"),
        "{body}"
    );
    // From our own site, without a session: the login page, with the way back.
    let page = c.browser().get("/brugere").await;
    assert!(page.url.contains("/login?next=%2Fbrugere"), "{}", page.url);
}
