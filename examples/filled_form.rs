//! Writes a filled, valid webservice order form (.docx) for demos and measurements, with a
//! desired date 15 working days from today so that it is approved.
//!
//!     cargo run --example filled_form -- OUT.docx

use spdesk::forms::blank::filled_docx;
use spdesk::forms::fields::FormKind;
use spdesk::rules::calendar::Calendar;

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example filled_form -- OUT.docx");
        std::process::exit(2);
    };
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive();
    let calendar = Calendar::new(&["12-24", "12-31"]).expect("valid closed days");
    let desired = calendar
        .add_working_days(today, 15)
        .expect("a working day within reach");
    let desired = format!("{} kl. 10.00", desired.format("%d-%m-%Y"));
    let stamp = chrono::Utc::now().timestamp();
    let id = format!("EX-DOCX-{stamp}");
    let values = [
        ("bestillings_id", id.as_str()),
        ("environment", "Eksternt testmiljø"),
        ("desired_at", desired.as_str()),
        ("org_name", "Fjordsoft ApS"),
        ("org_cvr", "39055414"),
        ("contact_name", "Karin Holm"),
        ("contact_email", "fa@example.test"),
        ("system_name", "SagsPilot"),
        ("system_uuid", "bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0"),
        ("system_role", "Serviceudbydersystem"),
        ("service_name", "SagsOpslag"),
        (
            "current_url",
            "https://exttest.fjordsoft.example/ws/v2/sagsopslag",
        ),
        (
            "new_url",
            "https://exttest2.fjordsoft.example/ws/v2/sagsopslag",
        ),
    ];
    let bytes = filled_docx(FormKind::Webservice, &values, &["url"]);
    if let Err(e) = std::fs::write(&out, bytes) {
        eprintln!("{out}: {e}");
        std::process::exit(1);
    }
    println!("{out}");
}
