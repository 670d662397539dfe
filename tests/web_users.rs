//! `/brugere`: an admin manages the console's people in the browser as `spdesk users` does on
//! the command line — adds a person who can then log in, sets a new password (their open
//! sessions end), disables someone (they cannot log in any more) — and nobody else may.

mod common;

use common::MailStack;
use common::console::{Console, PASSWORD};

#[tokio::test]
async fn an_admin_adds_resets_and_disables_people_and_no_one_else_may() {
    let stack = MailStack::shared(&["users.web@example.test"]);
    let c = Console::start(&stack, "users.web@example.test", "").await;
    c.add_user("ada", "admin");
    c.add_user("kim", "operator");
    let ada = c.signed_in("ada").await;

    let page = ada.get("/brugere").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("kim"), "{}", page.body);

    // A password too short is refused with the reason; nobody is added.
    let page = ada
        .submit(
            "/brugere",
            "/brugere",
            &[("name", "eva"), ("role", "viewer"), ("password", "kort")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("Adgangskoden kan ikke bruges"),
        "{}",
        page.body
    );
    let page = ada
        .submit(
            "/brugere",
            "/brugere",
            &[("name", "eva"), ("role", "viewer"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<td>eva</td>"), "{}", page.body);
    let eva = c.signed_in("eva").await;
    assert!(eva.get("/").await.body.contains("eva (viewer)"));
    // The same name in another case is the same person.
    let page = ada
        .submit(
            "/brugere",
            "/brugere",
            &[("name", "EVA"), ("role", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);

    // Only an admin sees or changes people.
    let kim = c.signed_in("kim").await;
    assert_eq!(kim.get("/brugere").await.status, 403);
    let page = kim.submit("/", "/brugere/eva/deaktiver", &[]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(eva.get("/").await.body.contains("eva (viewer)"), "still in");

    // A new password ends eva's sessions; the new one works, the old does not.
    let new_password = "et helt nyt og langt kodeord";
    let page = ada
        .submit(
            "/brugere",
            "/brugere/eva/adgangskode",
            &[("password", new_password)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(eva.get("/").await.url.contains("/login"), "session ended");
    assert_eq!(c.browser().login("eva", PASSWORD).await.status, 401);
    let again = c.browser();
    let page = again.login("eva", new_password).await;
    assert!(!page.url.contains("/login"), "{}", page.body);

    // Disabled: out, and no login; an admin cannot disable themself.
    let page = ada.submit("/brugere", "/brugere/eva/deaktiver", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("deaktiveret"), "{}", page.body);
    assert!(again.get("/").await.url.contains("/login"));
    assert_eq!(c.browser().login("eva", new_password).await.status, 401);
    let page = ada.submit("/brugere", "/brugere/ada/deaktiver", &[]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(ada.get("/").await.body.contains("ada (admin)"));
}
