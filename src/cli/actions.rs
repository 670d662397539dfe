//! The order actions as the command line builds them: [`Actions`] from the config. The
//! action itself is [`crate::store::actions::apply_action`] (the daemon's executor calls it
//! too), its decisions [`crate::orders::plan::action`].

use crate::cli::setup;
use crate::config::Config;
use crate::orders::receipts::Templates;
pub use crate::store::actions::{ActionOutcome, Actions, OrderAction, apply_action};

impl Actions {
    /// The templates, the Helpdesk's addresses, the incident address and the register, as the
    /// config names them.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Actions> {
        Ok(Actions {
            templates: Templates::load(Some(&setup::templates_dir(cfg)))
                .map_err(anyhow::Error::msg)?,
            helpdesk: setup::helpdesk_settings(cfg),
            incident_to: cfg.helpdesk.incident_to.clone(),
            register: match &cfg.rules.systems_file {
                Some(p) => Some(
                    crate::rules::it_systems::Register::load(p)
                        .map_err(|e| anyhow::anyhow!("rules.systems_file: {e}"))?,
                ),
                None => None,
            },
        })
    }
}
