package sqlrow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/offbox/offbox/ingest/store"
)

// ApplianceSQL is an engine's statements for store.ApplianceStore.
type ApplianceSQL struct {
	Add    string // inserts (name, relay, labels, added_ns, by), nothing if name is taken
	Remove string // deletes (name)
	One    string // relay, labels, added_ns, by of (name)
	All    string // name, relay, labels, added_ns, by of every appliance, by name
}

// AddAppliance implements store.ApplianceStore.
func (c *Core[T]) AddAppliance(ctx context.Context, a store.Appliance) error {
	if a.Name == "" || a.Relay == "" {
		return errors.New("store: appliance without a name or a relay")
	}
	labels, err := EncodeLabels(a.Labels)
	if err != nil {
		return err
	}
	n, err := Exec(ctx, c.write, "add appliance "+a.Name, c.e.SQL.Appliance.Add,
		a.Name, a.Relay, labels, c.timeOr(a.Added).UnixNano(), a.By)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrApplianceExists, a.Name)
	}
	return nil
}

// RemoveAppliance implements store.ApplianceStore.
func (c *Core[T]) RemoveAppliance(ctx context.Context, name string) error {
	n, err := Exec(ctx, c.write, "remove appliance "+name, c.e.SQL.Appliance.Remove, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrApplianceUnknown, name)
	}
	return nil
}

// Appliance implements store.ApplianceStore.
func (c *Core[T]) Appliance(ctx context.Context, name string) (store.Appliance, bool, error) {
	rows, err := c.e.Read.Query(ctx, c.e.SQL.Appliance.One, name)
	if err != nil {
		return store.Appliance{}, false, fmt.Errorf("store: appliance %s: %w", name, err)
	}
	all, err := Collect(rows, "appliance "+name, func(r Scanner) (store.Appliance, error) {
		a := store.Appliance{Name: name}
		return a, scanAppliance(r, &a, &a.Relay)
	})
	if err != nil || len(all) == 0 {
		return store.Appliance{}, false, err
	}
	return all[0], true, nil
}

// Appliances implements store.ApplianceStore.
func (c *Core[T]) Appliances(ctx context.Context) ([]store.Appliance, error) {
	return All(ctx, c.e.Read, "appliances", func(r Scanner) (store.Appliance, error) {
		var a store.Appliance
		var name string
		err := scanAppliance(r, &a, &name, &a.Relay)
		a.Name = name
		return a, err
	}, c.e.SQL.Appliance.All)
}

// scanAppliance scans the given leading string columns, then labels,
// added_ns and by.
func scanAppliance(r Scanner, a *store.Appliance, lead ...*string) error {
	var labels sql.NullString
	var added int64
	dst := make([]any, 0, len(lead)+3)
	for _, p := range lead {
		dst = append(dst, p)
	}
	dst = append(dst, &labels, &added, &a.By)
	if err := r.Scan(dst...); err != nil {
		return err
	}
	if labels.String != "" {
		if err := json.Unmarshal([]byte(labels.String), &a.Labels); err != nil {
			return fmt.Errorf("labels: %w", err)
		}
	}
	a.Added = TimeNs(added)
	return nil
}
