"""Where data comes from: one folder per source (fetch, validate, land), and the landing sensor."""
