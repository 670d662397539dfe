//! The buttons on `/orders/{ref}` and their POSTs: each calls the function `spdesk orders`
//! calls, as the signed-in person.
//!
//! Which buttons an order shows comes from the state machine itself
//! ([`crate::orders::state::transition`]), so the page never offers what the order logic would
//! refuse. A POST is read into an [`Asked`] (pure: a missing reason or a bad time is a 400
//! naming the field before anything is touched), then performed by the same store functions
//! the CLI uses, with the login name as the actor. Success goes back to the order (303: its
//! history shows what happened); a refusal is a page with the reason and a link back.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::WebState;
use super::auth::{Posted, Staff, Upload};
use super::page::{WebError, render};
use crate::forms::fields::FIELDS;
use crate::orders::edit::{FieldEdit, json_text, parse_set};
use crate::orders::state::{Action, State as OrderState, transition};
use crate::rules::calendar::TZ;
use crate::store::actions::{ActionOutcome, EditAction, OrderAction, apply_action};
use crate::store::dialogue::{Attached, DialogueOutcome, ReplyInput};
use crate::store::{self, OrderRow};

/// The URL segment of every action (`/orders/{ref}/SEGMENT`).
pub const SEGMENTS: [&str; 10] = [
    "godkend",
    "afvis",
    "gennemfoert",
    "fejlet",
    "tilbagetraek",
    "genaabn",
    "ret",
    "flyt",
    "svar",
    "haandteret",
];

/// This page's routes: one POST per action, each with its own fixed path.
pub fn routes() -> Router<WebState> {
    SEGMENTS.iter().fold(Router::new(), |r, &segment| {
        r.route(
            &format!("/orders/{{ref}}/{segment}"),
            post(
                move |state: State<WebState>, path: Path<String>, posted: Posted<ActionForm>| {
                    act(state, path, posted, segment)
                },
            ),
        )
    })
}

/// This page's templates (`src/web/templates/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "order_actions.html",
        include_str!("templates/order_actions.html"),
    ),
    (
        "order_action_refused.html",
        include_str!("templates/order_action_refused.html"),
    ),
];

/// The labels of the fields, as the forms show them and the 400 messages name them.
const REASON: &str = "Begrundelse";
const NOTE: &str = "Note (valgfri)";
const EARLY: &str = "Før planlagt tid";
const EARLY_REASON: &str = "Begrundelse for at gennemføre før planlagt tid";
const UNVERIFIED: &str = "Uden bestået kontrol";
const UNVERIFIED_REASON: &str = "Begrundelse for at gennemføre uden bestået kontrol";
const NEW_TIME: &str = "Nyt tidspunkt (ÅÅÅÅ-MM-DD TT:MM, dansk tid)";
const NEW_TIME_OPTIONAL: &str = "Nyt tidspunkt (valgfrit; ÅÅÅÅ-MM-DD TT:MM, dansk tid)";
const FIELDS_LABEL: &str = "Felter (én linje pr. felt: felt=værdi)";
/// The file input of "Svar" and its label.
const ATTACHMENT_FIELD: &str = "bilag";
const ATTACHMENT_LABEL: &str = "Vedhæft en fil (valgfri, højst 10 MB)";
const REPLY_TEXT: &str = "Svar til bestilleren";

/// One input of an action's form.
#[derive(Debug, Serialize)]
struct Field {
    /// `text`, `textarea`, `checkbox` or `hidden`.
    kind: &'static str,
    name: &'static str,
    /// Unique on the page (`label for`).
    id: String,
    label: &'static str,
    value: String,
    required: bool,
}

/// One action's form: its segment, its Danish button, its fields.
#[derive(Debug, Serialize)]
struct ActionView {
    segment: &'static str,
    label: &'static str,
    hint: Option<String>,
    fields: Vec<Field>,
}

/// What `order_actions.html` reads.
#[derive(Debug, Serialize)]
struct ActionsView {
    reference: String,
    acts: bool,
    read_only: Option<String>,
    forms: Vec<ActionView>,
}

fn field(segment: &str, kind: &'static str, name: &'static str, label: &'static str) -> Field {
    Field {
        kind,
        name,
        id: format!("handling-{segment}-{name}"),
        label,
        value: String::new(),
        required: false,
    }
}

fn required(f: Field) -> Field {
    Field {
        required: true,
        ..f
    }
}

fn valued(f: Field, value: String) -> Field {
    Field { value, ..f }
}

fn reason(segment: &str) -> Field {
    required(field(segment, "textarea", "begrundelse", REASON))
}

fn note(segment: &str) -> Field {
    field(segment, "textarea", "note", NOTE)
}

/// Whether the state machine lets a person do `action` on an order in `state`.
fn allows(state: OrderState, action: Action) -> bool {
    transition(state, action).is_ok()
}

/// A time as the time fields take it: "YYYY-MM-DD HH:MM" in Copenhagen time.
fn field_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&TZ).format("%Y-%m-%d %H:%M").to_string()
}

/// What `order_actions.html` shows for this order and person (the variable `actions`): the
/// order page includes that template and passes this value, knowing nothing of its shape.
/// `judgement` is the latest version's stored judgement (its `fields`).
pub fn forms(
    order: &OrderRow,
    judgement: &serde_json::Value,
    staff: &Staff,
    now: DateTime<Utc>,
) -> minijinja::Value {
    let view = if staff.acts() {
        ActionsView {
            reference: order.reference.clone(),
            acts: true,
            read_only: None,
            forms: action_views(order, judgement, now),
        }
    } else {
        ActionsView {
            reference: order.reference.clone(),
            acts: false,
            read_only: Some(format!(
                "Du har rollen {} og kan kun læse ordren; en administrator kan give dig rollen operator.",
                staff.role
            )),
            forms: Vec::new(),
        }
    };
    minijinja::Value::from_serialize(&view)
}

/// The forms of the actions the order's state allows, in the order a person meets them.
fn action_views(
    order: &OrderRow,
    judgement: &serde_json::Value,
    now: DateTime<Utc>,
) -> Vec<ActionView> {
    let s = order.state;
    let mut out = Vec::new();
    if let Some(a) = approve_view(s) {
        out.push(a);
    }
    let simple = [
        (Action::Reject, "afvis", "Afvis"),
        (Action::Fail, "fejlet", "Fejlet"),
        (Action::Withdraw, "tilbagetraek", "Tilbagetræk"),
    ];
    if allows(s, Action::Execute) {
        out.push(execute_view(order, judgement, now));
    }
    for (action, segment, label) in simple {
        if allows(s, action) {
            out.push(ActionView {
                segment,
                label,
                hint: None,
                fields: vec![reason(segment)],
            });
        }
    }
    if allows(s, Action::Reopen) {
        out.push(ActionView {
            segment: "genaabn",
            label: "Genåbn",
            hint: None,
            fields: vec![
                reason("genaabn"),
                field("genaabn", "text", "tidspunkt", NEW_TIME_OPTIONAL),
            ],
        });
    }
    if allows(s, Action::Reschedule) {
        out.push(reschedule_view(order));
    }
    if allows(s, Action::Edit) {
        out.push(edit_view(judgement));
    }
    out.extend(dialogue_views());
    out
}

/// "Godkend": an approval on review (an optional note), an override on a rejected order
/// (a reason required).
fn approve_view(s: OrderState) -> Option<ActionView> {
    let seg = "godkend";
    if allows(s, Action::Approve) {
        return Some(ActionView {
            segment: seg,
            label: "Godkend",
            hint: None,
            fields: vec![note(seg)],
        });
    }
    allows(s, Action::Override).then(|| ActionView {
        segment: seg,
        label: "Godkend",
        hint: Some(
            "Ordren er afvist af reglerne; at godkende den alligevel kræver en begrundelse.".into(),
        ),
        fields: vec![
            valued(field(seg, "hidden", "tilsidesaet", ""), "ja".into()),
            reason(seg),
        ],
    })
}

/// "Gennemført": a note; before the planned time only with "Før planlagt tid" and a reason;
/// a change of URL or certificate is checked first (`[verify]`), and executed after a failed
/// check only with "Uden bestået kontrol" and a reason.
fn execute_view(order: &OrderRow, judgement: &serde_json::Value, now: DateTime<Utc>) -> ActionView {
    let seg = "gennemfoert";
    let mut fields = vec![note(seg)];
    let mut hints = Vec::new();
    if let Some(planned) = order.planned_at.filter(|p| *p > now) {
        hints.push(format!(
            "Planlagt til {}; før det kun med «{EARLY}» og en begrundelse.",
            crate::orders::display::local_time(planned)
        ));
        fields.push(field(seg, "checkbox", "tidlig", EARLY));
        fields.push(field(seg, "textarea", "begrundelse", EARLY_REASON));
    }
    let subject = crate::orders::verification::subject(order.kind.as_deref(), judgement, None);
    if matches!(subject, crate::orders::verification::Subject::Endpoint(_)) {
        hints.push(format!(
            "Ændringen kontrolleres først (TLS, certifikat, HTTP-svar); fejler kontrollen, forbliver ordren godkendt, medmindre du sætter kryds i «{UNVERIFIED}» og skriver en begrundelse."
        ));
        fields.push(field(seg, "checkbox", "ukontrolleret", UNVERIFIED));
        fields.push(field(
            seg,
            "textarea",
            "ukontrolleret_begrundelse",
            UNVERIFIED_REASON,
        ));
    }
    let hint = (!hints.is_empty()).then(|| hints.join(" "));
    ActionView {
        segment: seg,
        label: "Gennemført",
        hint,
        fields,
    }
}

fn reschedule_view(order: &OrderRow) -> ActionView {
    let seg = "flyt";
    let at = order.planned_at.map(field_time).unwrap_or_default();
    ActionView {
        segment: seg,
        label: "Flyt tidspunkt",
        hint: None,
        fields: vec![
            valued(required(field(seg, "text", "tidspunkt", NEW_TIME)), at),
            reason(seg),
        ],
    }
}

fn edit_view(judgement: &serde_json::Value) -> ActionView {
    let seg = "ret";
    ActionView {
        segment: seg,
        label: "Ret felter",
        hint: Some(
            "Ret værdierne, eller tilføj en linje felt=værdi (FORMS.md's feltkoder eller danske \
             betegnelser). Ordren vurderes igen som en formular fra en mail."
                .into(),
        ),
        fields: vec![
            valued(
                required(field(seg, "textarea", "felter", FIELDS_LABEL)),
                field_text(judgement),
            ),
            reason(seg),
        ],
    }
}

/// "Svar" and "Markér som håndteret": open on every order (the order logic says when there
/// is nothing to mark).
fn dialogue_views() -> [ActionView; 2] {
    [
        ActionView {
            segment: "svar",
            label: "Svar",
            hint: None,
            fields: vec![
                required(field("svar", "textarea", "tekst", REPLY_TEXT)),
                field("svar", "file", ATTACHMENT_FIELD, ATTACHMENT_LABEL),
            ],
        },
        ActionView {
            segment: "haandteret",
            label: "Markér som håndteret",
            hint: Some("Ordrens ubesvarede beskeder kræver ikke svar fra spdesk.".into()),
            fields: vec![note("haandteret")],
        },
    ]
}

/// The latest version's fields as `code=value` lines in FORMS.md's order, values as a form
/// would carry them (`orders edit --set` reads them back); a line break in a value becomes a
/// space, so each field stays one line.
pub fn field_text(judgement: &serde_json::Value) -> String {
    field_pairs(judgement)
        .into_iter()
        .map(|(code, value)| format!("{code}={value}\n"))
        .collect()
}

fn field_pairs(judgement: &serde_json::Value) -> Vec<(&'static str, String)> {
    let Some(fields) = judgement.get("fields").and_then(|f| f.as_object()) else {
        return Vec::new();
    };
    FIELDS
        .iter()
        .filter_map(|d| {
            let v = fields.get(d.code)?;
            let text = json_text(v).replace(['\r', '\n'], " ");
            Some((d.code, text.trim().to_string()))
        })
        .collect()
}

/// The edits in a posted `felter` text: every line whose value differs from what the form
/// showed (the latest version's [`field_text`]). An error names the field and the line.
pub fn edits_from(text: &str, judgement: &serde_json::Value) -> Result<Vec<FieldEdit>, String> {
    let shown = field_pairs(judgement);
    let mut edits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let e = parse_set(line).map_err(|e| {
            format!(
                "Feltet «Felter», linje {}: {e}. Skriv felt=værdi, fx org_cvr=12345674.",
                n + 1
            )
        })?;
        let before = shown.iter().find(|(c, _)| *c == e.def.code);
        let unchanged = match before {
            Some((_, v)) => *v == e.value,
            None => e.value.is_empty(),
        };
        // A field given twice counts once, as its last line says.
        edits.retain(|x: &FieldEdit| x.def.code != e.def.code);
        if !unchanged {
            edits.push(e);
        }
    }
    if edits.is_empty() {
        return Err(
            "Feltet «Felter»: ingen værdi er ændret; ret mindst én linje felt=værdi.".into(),
        );
    }
    Ok(edits)
}

/// A POSTed action form: every field any action uses (each action reads its own).
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub begrundelse: String,
    #[serde(default)]
    pub tidspunkt: String,
    #[serde(default)]
    pub tidlig: Option<String>,
    #[serde(default)]
    pub tilsidesaet: Option<String>,
    /// "Uden bestået kontrol" (Gennemført): executed although the check failed.
    #[serde(default)]
    pub ukontrolleret: Option<String>,
    #[serde(default)]
    pub ukontrolleret_begrundelse: String,
    #[serde(default)]
    pub felter: String,
    #[serde(default)]
    pub tekst: String,
}

/// What a POST asks for, read and checked.
#[derive(Debug, PartialEq)]
pub enum Asked {
    /// A state change (or a new time): `store::actions::apply_action`.
    Order {
        action: Action,
        text: Option<String>,
        early: Option<String>,
        /// "Uden bestået kontrol" with its reason (`execute --unverified --reason`).
        unverified: Option<String>,
        at: Option<DateTime<Utc>>,
    },
    /// "Ret felter": the posted lines and the reason (diffed against the latest version).
    Edit {
        lines: String,
        reason: String,
    },
    Reply {
        text: String,
    },
    Handled {
        note: Option<String>,
    },
}

fn filled(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// The value of a required field, or the 400 message naming it.
fn needed(value: &str, label: &str) -> Result<String, String> {
    filled(value).ok_or_else(|| {
        format!("Feltet «{label}» skal udfyldes: det står i ordrens historik og i mailen til bestilleren.")
    })
}

/// A time field: `None` when empty, else [`crate::cli::orders::parse_at`]'s reading.
fn time_field(value: &str, label: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(v) = filled(value) else {
        return Ok(None);
    };
    crate::cli::orders::parse_at(&v).map(Some).map_err(|_| {
        format!("Feltet «{label}»: «{v}» er ikke et tidspunkt; skriv ÅÅÅÅ-MM-DD TT:MM i dansk tid, fx 2026-12-14 10:00.")
    })
}

fn order(action: Action, text: Option<String>) -> Asked {
    Asked::Order {
        action,
        text,
        early: None,
        unverified: None,
        at: None,
    }
}

/// Reads the form of the action `segment`: its required fields filled, its time a time.
/// `Err` is the 400 message.
pub fn asked(segment: &str, f: &ActionForm) -> Result<Asked, String> {
    Ok(match segment {
        "godkend" if f.tilsidesaet.is_some() => {
            order(Action::Override, Some(needed(&f.begrundelse, REASON)?))
        }
        "godkend" => order(Action::Approve, filled(&f.note)),
        "afvis" => order(Action::Reject, Some(needed(&f.begrundelse, REASON)?)),
        "fejlet" => order(Action::Fail, Some(needed(&f.begrundelse, REASON)?)),
        "tilbagetraek" => order(Action::Withdraw, Some(needed(&f.begrundelse, REASON)?)),
        "gennemfoert" => Asked::Order {
            action: Action::Execute,
            text: filled(&f.note),
            early: match f.tidlig {
                Some(_) => Some(needed(&f.begrundelse, EARLY_REASON)?),
                None => None,
            },
            unverified: match f.ukontrolleret {
                Some(_) => Some(needed(&f.ukontrolleret_begrundelse, UNVERIFIED_REASON)?),
                None => None,
            },
            at: None,
        },
        "genaabn" => Asked::Order {
            action: Action::Reopen,
            text: Some(needed(&f.begrundelse, REASON)?),
            early: None,
            unverified: None,
            at: time_field(&f.tidspunkt, NEW_TIME_OPTIONAL)?,
        },
        "flyt" => Asked::Order {
            action: Action::Reschedule,
            text: Some(needed(&f.begrundelse, REASON)?),
            early: None,
            unverified: None,
            at: match time_field(&f.tidspunkt, NEW_TIME)? {
                Some(at) => Some(at),
                None => return Err(needed("", NEW_TIME).err().unwrap_or_default()),
            },
        },
        "ret" => Asked::Edit {
            lines: needed(&f.felter, FIELDS_LABEL)?,
            reason: needed(&f.begrundelse, REASON)?,
        },
        "svar" => Asked::Reply {
            text: needed(&f.tekst, REPLY_TEXT)?,
        },
        "haandteret" => Asked::Handled {
            note: filled(&f.note),
        },
        other => return Err(format!("ukendt handling «{other}»")),
    })
}

/// `POST /orders/{ref}/{segment}`: an operator's action on the order, as `spdesk orders`
/// performs it, with the login name as the actor.
async fn act(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    Posted { staff, form, files }: Posted<ActionForm>,
    segment: &'static str,
) -> Result<Response, WebError> {
    staff.require_operator()?;
    let Some(o) = store::order_by_ref(&state.store.pool, &reference).await? else {
        return Err(WebError::NotFound(format!(
            "Der findes ingen ordre {reference}; find den i køen."
        )));
    };
    let asked = match asked(segment, &form) {
        Ok(a) => a,
        Err(why) => return Ok(refused(&state, &staff, &o, StatusCode::BAD_REQUEST, &why)),
    };
    let file = files.into_iter().find(|f| f.field == ATTACHMENT_FIELD);
    let outcome = match perform(&state, &staff, &o, asked, file).await? {
        Ok(outcome) => outcome,
        Err(why) => return Ok(refused(&state, &staff, &o, StatusCode::BAD_REQUEST, &why)),
    };
    Ok(match outcome {
        Outcome::Done => {
            info!(person = %staff.name, reference = %o.reference, action = segment, "web action done");
            Redirect::to(&format!("/orders/{}", o.reference)).into_response()
        }
        Outcome::Refused(why) => {
            info!(person = %staff.name, reference = %o.reference, action = segment, why = %why, "web action refused");
            refused(
                &state,
                &staff,
                &o,
                StatusCode::CONFLICT,
                &in_danish(&o, &why),
            )
        }
    })
}

/// What the order logic did with an action.
enum Outcome {
    Done,
    Refused(String),
}

impl From<ActionOutcome> for Outcome {
    fn from(o: ActionOutcome) -> Outcome {
        match o {
            ActionOutcome::Done { .. } => Outcome::Done,
            ActionOutcome::Refused(why) => Outcome::Refused(why),
        }
    }
}

impl From<DialogueOutcome> for Outcome {
    fn from(o: DialogueOutcome) -> Outcome {
        match o {
            DialogueOutcome::Done(_) => Outcome::Done,
            DialogueOutcome::Refused(why) => Outcome::Refused(why),
        }
    }
}

/// Performs what was asked through the functions the CLI calls. The inner `Err` is a 400
/// message (a field edit that is no edit).
async fn perform(
    state: &WebState,
    staff: &Staff,
    o: &OrderRow,
    asked: Asked,
    file: Option<Upload>,
) -> anyhow::Result<Result<Outcome, String>> {
    let (reference, actor, now) = (o.reference.as_str(), staff.name.as_str(), Utc::now());
    let shared = &state.shared;
    Ok(Ok(match asked {
        asked @ Asked::Order { .. } => order_action(state, reference, actor, asked).await?,
        Asked::Edit { lines, reason } => {
            let judgement = latest_judgement(state, o).await?;
            let edits = match edits_from(&lines, &judgement) {
                Ok(e) => e,
                Err(why) => return Ok(Err(why)),
            };
            let e = EditAction {
                reference,
                edits: &edits,
                actor,
                reason: &reason,
                now,
            };
            crate::cli::orders::edit_judged_by(shared, &state.pipeline, &e)
                .await?
                .into()
        }
        Asked::Reply { text } => {
            let attachment = file.as_ref().map(|f| Attached {
                filename: if f.name.is_empty() { "bilag" } else { &f.name },
                content_type: crate::cli::orders::content_type_of(&f.name),
                bytes: &f.bytes,
            });
            let r = ReplyInput {
                reference,
                actor,
                text: &text,
                attachment,
                now,
            };
            store::dialogue::reply(&shared.store, &shared.actions, &r)
                .await?
                .into()
        }
        Asked::Handled { note } => {
            store::dialogue::handled(&shared.store, reference, actor, note.as_deref(), now)
                .await?
                .into()
        }
    }))
}

/// A state change (or a new time) as `spdesk orders` performs it; "Gennemført" checks a
/// change of URL or certificate first ([`checked`]).
async fn order_action(
    state: &WebState,
    reference: &str,
    actor: &str,
    asked: Asked,
) -> anyhow::Result<Outcome> {
    let Asked::Order {
        action,
        text,
        early,
        unverified,
        at,
    } = asked
    else {
        return Ok(Outcome::Refused(
            "not an action on the order's state".into(),
        ));
    };
    let verification = match action {
        Action::Execute => {
            checked(
                state,
                reference,
                actor,
                early.is_some(),
                unverified.as_deref(),
            )
            .await?
        }
        _ => None,
    };
    let a = OrderAction {
        reference,
        action,
        actor,
        text: text.as_deref(),
        detail: None,
        early: early.as_deref(),
        at,
        claim: None,
        verification: verification.as_ref(),
        now: Utc::now(),
    };
    let shared = &state.shared;
    Ok(apply_action(&shared.store, &shared.actions, &a)
        .await?
        .into())
}

/// "Gennemført" on a change of URL or certificate: the check (`[verify]`), once — a person
/// is waiting and a request may not take minutes; they can press again.
async fn checked(
    state: &WebState,
    reference: &str,
    actor: &str,
    early: bool,
    unverified: Option<&str>,
) -> anyhow::Result<Option<crate::orders::verification::Verification>> {
    let settings = crate::verify::VerifySettings {
        retries: 0,
        ..crate::verify::VerifySettings::from_config(&state.shared.config)?
    };
    crate::verify::before_execute(
        &state.shared.store,
        &settings,
        reference,
        actor,
        early,
        unverified,
    )
    .await
}

/// The latest version's stored judgement (`null` for an order without versions).
async fn latest_judgement(state: &WebState, o: &OrderRow) -> anyhow::Result<serde_json::Value> {
    let versions = store::versions_of(&state.store.pool, o.id).await?;
    Ok(versions
        .into_iter()
        .last()
        .map(|v| v.judgement)
        .unwrap_or(serde_json::Value::Null))
}

/// The order logic's refusal (written for `spdesk orders`, naming its flags) as the console
/// says it: the known reasons in Danish with what to do on this page; any other as it is,
/// after a Danish lead-in.
fn in_danish(o: &OrderRow, why: &str) -> String {
    let state = crate::orders::display::state_name(o.state.as_str());
    if why.contains("the check of the change failed") {
        let what = why
            .split_once("stays approved: ")
            .map_or(why, |(_, rest)| rest);
        let what = what.split("; correct it").next().unwrap_or(what);
        return format!(
            "Kontrollen af ændringen er ikke bestået, så ordren er stadig godkendt. Hvad der fejlede: {what}. Ret det og prøv igen, eller sæt kryds i «{UNVERIFIED}» og skriv en begrundelse."
        );
    }
    let known: &[(&str, String)] = &[
        ("cannot ", format!(
            "Ordren er nu «{state}», og handlingen kan ikke bruges i den tilstand. Siden var måske gammel: åbn ordren igen."
        )),
        ("fill them in first", "Ordren mangler påkrævede felter. Udfyld dem med «Ret felter» først.".into()),
        ("needs a reason", "Skriv en begrundelse; den kommer i historikken og til bestilleren.".into()),
        ("to execute it before then", "Ordren er planlagt til senere. Sæt kryds i «Før planlagt tid», og skriv en begrundelse.".into()),
        ("has passed", "Tidspunktet er passeret. Vælg et tidspunkt frem i tiden.".into()),
        ("no unanswered message", "Ordren har ingen ubesvaret besked.".into()),
        ("no requester address", "Ordren har ingen bestiller-adresse, som et svar kan sendes til.".into()),
        ("nothing to change", "Ingen værdi er ændret.".into()),
        ("too few fields", "For få felter til en formular; udfyld mindst tre.".into()),
    ];
    known
        .iter()
        .find(|(english, _)| why.contains(english))
        .map(|(_, danish)| danish.clone())
        .unwrap_or_else(|| format!("Ordrelogikken afviste handlingen: {why}"))
}

/// The page of an action not carried out: why, and the way back to the order.
fn refused(
    state: &WebState,
    staff: &Staff,
    o: &OrderRow,
    status: StatusCode,
    why: &str,
) -> Response {
    let ctx = minijinja::context! {
        reference => o.reference,
        reason => why,
    };
    let mut r = render(state, Some(staff), "order_action_refused.html", ctx);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_logics_refusals_read_in_danish() {
        let o = OrderRow::sample(crate::orders::state::State::Approved, "a@x.test");
        let said = in_danish(
            &o,
            "SP-2026-00001: cannot approve an order in state approved: only orders in state review can be changed this way",
        );
        assert!(said.starts_with("Ordren er nu «godkendt»"), "{said}");
        let said = in_danish(
            &o,
            "SP-2026-00001: required fields missing; fill them in first: spdesk orders edit …",
        );
        assert!(
            said.contains("«Ret felter»") && !said.contains("spdesk"),
            "{said}"
        );
        let said = in_danish(&o, "SP-2026-00001: something new");
        assert_eq!(
            said,
            "Ordrelogikken afviste handlingen: SP-2026-00001: something new"
        );
    }
    use crate::users::Role;
    use serde_json::json;

    fn row(state: OrderState, planned_at: Option<DateTime<Utc>>) -> OrderRow {
        let now = Utc::now();
        OrderRow {
            id: 1,
            reference: "SP-2026-00007".into(),
            state,
            kind: Some("sftp".into()),
            bestillings_id: Some("BD-1".into()),
            org_name: None,
            org_cvr: None,
            system_name: None,
            requester: Some("fa@example.test".into()),
            reply_to: None,
            contact_email: None,
            thread_message_id: None,
            thread_subject: String::new(),
            planned_at,
            created_at: now,
            updated_at: now,
            executed_at: None,
            billed_at: None,
            incident_at: None,
        }
    }

    fn staff(role: Role) -> Staff {
        Staff {
            name: "kim".into(),
            role,
            csrf: "t".into(),
        }
    }

    fn judgement() -> serde_json::Value {
        json!({"kind": "sftp", "fields": {
            "org_cvr": "54921942",
            "bestillings_id": "BD-1",
            "alert_emails": ["drift@x.test", "vagt@x.test"],
            "org_name": "Borgerdata\nI/S",
        }})
    }

    fn segments(state: OrderState, planned: Option<DateTime<Utc>>) -> Vec<&'static str> {
        action_views(&row(state, planned), &judgement(), Utc::now())
            .iter()
            .map(|a| a.segment)
            .collect()
    }

    #[test]
    fn the_buttons_are_the_actions_the_state_allows() {
        use OrderState::*;
        let dialogue = ["svar", "haandteret"];
        let with = |v: &[&'static str]| [v, &dialogue].concat();
        assert_eq!(
            segments(Review, None),
            with(&["godkend", "afvis", "tilbagetraek", "flyt", "ret"])
        );
        assert_eq!(
            segments(Approved, None),
            with(&[
                "gennemfoert",
                "afvis",
                "fejlet",
                "tilbagetraek",
                "flyt",
                "ret"
            ])
        );
        assert_eq!(
            segments(Rejected, None),
            with(&["godkend", "tilbagetraek", "ret"])
        );
        assert_eq!(segments(Received, None), with(&["tilbagetraek", "ret"]));
        assert_eq!(segments(Failed, None), with(&["genaabn"]));
        assert_eq!(segments(Executed, None), with(&[]));
        assert_eq!(segments(Withdrawn, None), with(&[]));
    }

    #[test]
    fn godkend_on_a_rejected_order_overrides_and_needs_a_reason() {
        let v = approve_view(OrderState::Rejected).unwrap();
        assert!(v.fields.iter().any(|f| f.name == "tilsidesaet"));
        assert!(
            v.fields
                .iter()
                .any(|f| f.name == "begrundelse" && f.required)
        );
        let v = approve_view(OrderState::Review).unwrap();
        assert!(
            v.fields
                .iter()
                .all(|f| f.name != "tilsidesaet" && !f.required)
        );
    }

    #[test]
    fn before_the_planned_time_gennemfoert_offers_the_early_checkbox() {
        let now = Utc::now();
        let later = execute_view(
            &row(OrderState::Approved, Some(now + chrono::Duration::days(3))),
            &judgement(),
            now,
        );
        assert!(
            later
                .fields
                .iter()
                .any(|f| f.kind == "checkbox" && f.name == "tidlig")
        );
        let past = execute_view(
            &row(OrderState::Approved, Some(now - chrono::Duration::days(1))),
            &judgement(),
            now,
        );
        assert!(past.fields.iter().all(|f| f.name != "tidlig"));
    }

    #[test]
    fn a_viewer_gets_no_forms_but_a_line_saying_so() {
        let o = row(OrderState::Review, None);
        let v = forms(&o, &judgement(), &staff(Role::Viewer), Utc::now());
        assert_eq!(v.get_attr("acts").unwrap(), minijinja::Value::from(false));
        assert!(
            v.get_attr("read_only")
                .unwrap()
                .to_string()
                .contains("kan kun læse")
        );
        let v = forms(&o, &judgement(), &staff(Role::Operator), Utc::now());
        assert_eq!(v.get_attr("forms").unwrap().len(), Some(7));
    }

    #[test]
    fn the_edit_box_holds_the_fields_as_orders_edit_takes_them() {
        let text = field_text(&judgement());
        assert_eq!(
            text,
            "bestillings_id=BD-1\norg_name=Borgerdata I/S\norg_cvr=54921942\nalert_emails=drift@x.test, vagt@x.test\n"
        );
        for line in text.lines() {
            parse_set(line).unwrap();
        }
    }

    #[test]
    fn only_changed_lines_are_edits() {
        let j = judgement();
        let text = field_text(&j).replace("org_cvr=54921942", "CVR-nr.=29189846");
        let edits = edits_from(&format!("{text}\n\n"), &j).unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!(
            (edits[0].def.code, edits[0].value.as_str()),
            ("org_cvr", "29189846")
        );
        // A field the form did not have, added by a line.
        let edits = edits_from("sftp_user=bd_x", &j).unwrap();
        assert_eq!(edits[0].def.code, "sftp_user");
        let none = edits_from(&field_text(&j), &j).unwrap_err();
        assert!(none.contains("Felter"), "{none}");
        let bad = edits_from("org_cvr=1\nfarve blå", &j).unwrap_err();
        assert!(bad.contains("linje 2"), "{bad}");
        // Hostile text never panics.
        for s in ["=", "\u{0}=\u{0}", &"æ=".repeat(10_000)] {
            let _ = edits_from(s, &j);
        }
    }

    fn form(f: impl FnOnce(&mut ActionForm)) -> ActionForm {
        let mut a = ActionForm::default();
        f(&mut a);
        a
    }

    #[test]
    fn a_missing_reason_or_a_bad_time_names_the_field() {
        for seg in ["afvis", "fejlet", "tilbagetraek", "genaabn", "flyt"] {
            let e = asked(seg, &form(|f| f.tidspunkt = "2099-01-05 10:00".into())).unwrap_err();
            assert!(e.contains("«Begrundelse»"), "{seg}: {e}");
        }
        let e = asked("godkend", &form(|f| f.tilsidesaet = Some("ja".into()))).unwrap_err();
        assert!(e.contains("«Begrundelse»"), "{e}");
        let e = asked("gennemfoert", &form(|f| f.tidlig = Some("ja".into()))).unwrap_err();
        assert!(e.contains(EARLY_REASON), "{e}");
        let e = asked("flyt", &form(|f| f.begrundelse = "x".into())).unwrap_err();
        assert!(e.contains("Nyt tidspunkt"), "{e}");
        let e = asked(
            "flyt",
            &form(|f| {
                f.begrundelse = "x".into();
                f.tidspunkt = "14-12-2026 <b>".into();
            }),
        )
        .unwrap_err();
        assert!(
            e.contains("Nyt tidspunkt") && e.contains("ÅÅÅÅ-MM-DD"),
            "{e}"
        );
        let e = asked("svar", &form(|_| {})).unwrap_err();
        assert!(e.contains(REPLY_TEXT), "{e}");
    }

    #[test]
    fn a_filled_form_is_the_action_the_cli_would_take() {
        assert_eq!(
            asked("godkend", &form(|f| f.note = " ok ".into())).unwrap(),
            order(Action::Approve, Some("ok".into()))
        );
        assert_eq!(
            asked(
                "godkend",
                &form(|f| {
                    f.tilsidesaet = Some("ja".into());
                    f.begrundelse = "aftalt".into();
                })
            )
            .unwrap(),
            order(Action::Override, Some("aftalt".into()))
        );
        let Asked::Order { action, at, .. } = asked(
            "flyt",
            &form(|f| {
                f.begrundelse = "x".into();
                f.tidspunkt = "2026-12-14 10:00".into();
            }),
        )
        .unwrap() else {
            panic!("an order action")
        };
        assert_eq!(action, Action::Reschedule);
        assert_eq!(at.unwrap().to_rfc3339(), "2026-12-14T09:00:00+00:00");
        let Asked::Order { early, .. } = asked(
            "gennemfoert",
            &form(|f| {
                f.tidlig = Some("ja".into());
                f.begrundelse = "aftalt".into();
            }),
        )
        .unwrap() else {
            panic!("an order action")
        };
        assert_eq!(early.as_deref(), Some("aftalt"));
        assert_eq!(
            asked("haandteret", &form(|_| {})).unwrap(),
            Asked::Handled { note: None }
        );
        assert!(asked("ukendt", &form(|_| {})).is_err());
    }

    #[test]
    fn the_template_renders_every_form_with_labels_and_the_token_escaped() {
        let env = crate::web::page::environment().unwrap();
        let mut j = judgement();
        j["fields"]["org_name"] = json!("<script>alert(1)</script>");
        let o = row(
            OrderState::Approved,
            Some(Utc::now() + chrono::Duration::days(2)),
        );
        let me = minijinja::context! { csrf => "tok\"en", name => "kim" };
        let html = env
            .get_template("order_actions.html")
            .unwrap()
            .render(minijinja::context! {
                me => me,
                actions => forms(&o, &j, &staff(Role::Operator), Utc::now()),
            })
            .unwrap();
        for seg in [
            "gennemfoert",
            "afvis",
            "fejlet",
            "tilbagetraek",
            "flyt",
            "ret",
            "svar",
        ] {
            let action = format!("action=\"/orders/SP-2026-00007/{seg}\"");
            assert!(html.contains(&action), "{seg}: {html}");
        }
        for label in [
            "Gennemført",
            "Flyt tidspunkt",
            "Ret felter",
            "Markér som håndteret",
            "Før planlagt tid",
        ] {
            assert!(html.contains(label), "{label}");
        }
        assert!(
            html.contains("&lt;script&gt;") && !html.contains("<script>"),
            "{html}"
        );
        assert!(!html.contains("tok\"en"), "the token is escaped");
        // Every input but the hidden ones has its label.
        for id in html
            .split("id=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
        {
            if id.starts_with("handling-") {
                assert!(html.contains(&format!("for=\"{id}\"")), "{id} has no label");
            }
        }
        let viewer = env
            .get_template("order_actions.html")
            .unwrap()
            .render(minijinja::context! {
                me => minijinja::context! { csrf => "t" },
                actions => forms(&o, &j, &staff(Role::Viewer), Utc::now()),
            })
            .unwrap();
        assert!(
            viewer.contains("kan kun læse") && !viewer.contains("<form"),
            "{viewer}"
        );
    }

    /// A change of certificate or URL is checked first: "Gennemført" says so and offers
    /// "Uden bestået kontrol", which needs its reason; a failed check reads in Danish with
    /// what failed.
    #[test]
    fn gennemfoert_on_a_checked_change_offers_to_go_on_without_the_check() {
        let mut o = row(OrderState::Approved, None);
        o.kind = Some("webservice".into());
        let j = json!({"kind": "webservice", "fields": {"changes": ["ssl_certificate"],
            "current_url": "https://ws.example.test/ws"}});
        let views = action_views(&o, &j, Utc::now());
        let view = views.iter().find(|v| v.segment == "gennemfoert").unwrap();
        let names: Vec<&str> = view.fields.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["note", "ukontrolleret", "ukontrolleret_begrundelse"]
        );
        assert!(
            view.hint
                .as_deref()
                .unwrap_or("")
                .contains("kontrolleres først")
        );
        let sftp = action_views(&row(OrderState::Approved, None), &judgement(), Utc::now());
        let view = sftp.iter().find(|v| v.segment == "gennemfoert").unwrap();
        assert_eq!(
            view.fields.len(),
            1,
            "nothing to check on a monitoring change"
        );

        let e = asked(
            "gennemfoert",
            &form(|f| f.ukontrolleret = Some("ja".into())),
        )
        .unwrap_err();
        assert!(e.contains(UNVERIFIED_REASON), "{e}");
        let Asked::Order { unverified, .. } = asked(
            "gennemfoert",
            &form(|f| {
                f.ukontrolleret = Some("ja".into());
                f.ukontrolleret_begrundelse = " kunden har bekræftet ".into();
            }),
        )
        .unwrap() else {
            panic!("an order action")
        };
        assert_eq!(unverified.as_deref(), Some("kunden har bekræftet"));

        let why = "SP-2026-00001: the check of the change failed, so the order stays approved: certificate: another certificate is served; correct it and execute again, or execute anyway with --unverified --reason \"…\"";
        let said = in_danish(&o, why);
        assert!(
            said.contains("ikke bestået")
                && said.contains("certificate: another certificate is served.")
                && !said.contains("--unverified"),
            "{said}"
        );
    }
}
