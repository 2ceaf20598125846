//! `pushform schema`: the JSON Schema of campaign files, from the very types the parser uses.

use anyhow::Result;

use crate::campaign::CampaignFile;
use crate::exit::Exit;
use crate::printer::Printer;

pub fn campaign_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<CampaignFile>();
    schema.to_value()
}

pub(crate) fn run(printer: &Printer) -> Result<Exit> {
    printer.out(&format!(
        "{}\n",
        serde_json::to_string_pretty(&campaign_schema())?
    ));
    Ok(Exit::Ok)
}
