package config

// Search is how the collector prepares for `search`.
type Search struct {
	// Index: build each batch's token filter behind ingestion (default
	// true). Off, nothing is spent on search at ingest and every search
	// reads every batch it could match (its results say full_scan); back
	// on, the indexer catches up from where it stopped.
	Index bool `yaml:"index"`
}
