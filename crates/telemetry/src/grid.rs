//! Grid carbon intensity by region and the default electricity price, for CO2 and cost.

/// Grid carbon intensity by region, g CO2 per kWh (annual averages; sources in comments).
pub const GRID_INTENSITY: &[(&str, f64)] = &[
    ("world", 475.0), // IEA, world average electricity generation, 2019
    ("us", 367.0),    // US EIA, 2023 US average (0.81 lb/kWh)
    ("eu", 251.0),    // European Environment Agency, EU-27 average, 2022
    ("fr", 56.0),     // RTE, France, 2022
    ("de", 380.0),    // Umweltbundesamt, Germany, 2022
    ("uk", 207.0),    // UK DESNZ, 2023 grid average
    ("in", 713.0),    // CEA, India, 2022
    ("cn", 581.0),    // China, Ember 2022
];

/// Electricity price used when none is given (USD per kWh; seed 002's figure).
pub const DEFAULT_PRICE_USD_PER_KWH: f64 = 0.12;

/// Looks up a region's grid intensity (`world`, `us`, `eu`, `fr`, ...).
pub fn grid_intensity(region: &str) -> Option<f64> {
    GRID_INTENSITY
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(region))
        .map(|(_, g)| *g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_table_lookup() {
        assert_eq!(grid_intensity("FR"), Some(56.0));
        assert_eq!(grid_intensity("mars"), None);
    }
}
