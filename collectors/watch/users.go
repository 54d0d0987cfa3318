package watch

import (
	"fmt"
	"strconv"

	"github.com/offbox/offbox/collectors"
)

// shadowTrack is what is known of the shadow file: per user a keyed digest
// of the hash field and the fields that may be shown.
type shadowTrack struct {
	known bool
	sum   [32]byte // of the whole file, to skip parsing an unchanged one; memory only
	users map[string]shadowUser
	order []string // users in file order
}

type shadowUser struct {
	digest     [32]byte // HMAC of the hash field under runner.key
	lastChange int64
	locked     bool
	noPassword bool
}

// passwdTrack is what is known of the passwd file.
type passwdTrack struct {
	known    bool
	sum      [32]byte
	accounts map[string]trackedAccount
}

type trackedAccount struct {
	account           // pw is nil here
	pwDigest [32]byte // HMAC of the password field ("x" on shadowed systems)
}

// readAccounts reads the shadow or passwd file at logical path p. ok is false
// when it cannot, and then the problem has been reported.
func (r *runner) readAccounts(p string) (o fileObs, ok bool) {
	src := sourcePrefix + p
	o = r.c.observe(p, maxAccountsFile)
	switch {
	case o.state == absent:
		r.setProblem(src, p, "missing", "readable again")
	case o.state == unreadable:
		r.setProblem(src, p, o.reason, "readable again")
	case o.tooBig:
		r.setProblem(src, p, fmt.Sprintf("larger than %d bytes", maxAccountsFile), "readable again")
	default:
		r.setProblem(src, p, "", "readable again")
		return o, true
	}
	return o, false
}

// scanShadow records a password_change for every user whose hash field
// changed. Users added or removed are account changes, seen in passwd.
func (r *runner) scanShadow() {
	p := r.c.shadow
	o, ok := r.readAccounts(p)
	defer clear(o.content) // hashes: keep them no longer than needed
	if !ok || (r.shadow.known && o.sum == r.shadow.sum) {
		return
	}
	entries, bad := parseShadow(o.content)
	if len(bad) > 0 {
		r.c.log.Warn("watch: malformed lines skipped", "path", p, "lines", bad)
	}
	t := shadowTrack{known: true, sum: o.sum, users: make(map[string]shadowUser, len(entries))}
	for _, e := range entries {
		u := shadowUser{digest: r.digest(e.hash), lastChange: e.LastChange, locked: e.Locked, noPassword: e.NoPassword}
		t.users[e.User] = u
		t.order = append(t.order, e.User)
		if old, ok := r.shadow.users[e.User]; ok && r.shadow.known && old.digest != u.digest {
			r.emitPasswordChange(p, e.User, u)
		}
	}
	r.shadow = t
}

// passwordBody is the body of a password_change record. Nothing in it comes
// from the hash but whether it is locked or empty.
type passwordBody struct {
	User          string `json:"user"`
	LastChangeDay *int64 `json:"last_change_day"` // shadow field 3, days since 1970-01-01; null when empty
	LastChange    string `json:"last_change"`     // that day as YYYY-MM-DD, "" when empty
	Locked        bool   `json:"locked"`          // the hash starts with ! or *
	NoPassword    bool   `json:"no_password"`     // the hash field is empty
}

func (r *runner) emitPasswordChange(p, user string, u shadowUser) {
	b := passwordBody{User: user, LastChange: dayDate(u.lastChange), Locked: u.locked, NoPassword: u.noPassword}
	day := ""
	if u.lastChange >= 0 {
		b.LastChangeDay = &u.lastChange
		day = strconv.FormatInt(u.lastChange, 10)
	}
	r.emit(collectors.Record{
		Kind:   collectors.KindPasswordChange,
		Source: sourcePrefix + p,
		Body:   marshal(b),
		Attrs: []collectors.Attr{
			{Key: "user", Value: user},
			{Key: "last_change_day", Value: day},
			{Key: "last_change", Value: b.LastChange},
			{Key: "locked", Value: strconv.FormatBool(u.locked)},
			{Key: "no_password", Value: strconv.FormatBool(u.noPassword)},
		},
	})
}

// PasswordAge is one user's password age: an entry of the password_age
// record and of Snapshot. Locked and passwordless users are listed too,
// flagged.
type PasswordAge struct {
	User       string `json:"user"`
	LastChange string `json:"last_change"` // YYYY-MM-DD; "" when shadow has no date
	AgeDays    *int64 `json:"age_days"`    // days from last_change to now (UTC); null without a date
	Locked     bool   `json:"locked"`      // the hash starts with ! or *: no password login
	NoPassword bool   `json:"no_password"` // the hash field is empty: login without a password
	MustChange bool   `json:"must_change"` // last change day 0: the password must be changed at next login
}

// ages lists the password age of every user of t, and the oldest password
// in use: neither locked, nor empty, nor to be changed at next login. oldest
// is "" when there is none.
func ages(t shadowTrack, today int64) (list []PasswordAge, oldest string, oldestDays int64) {
	list = make([]PasswordAge, 0, len(t.order))
	for _, name := range t.order {
		u := t.users[name]
		a := PasswordAge{User: name, LastChange: dayDate(u.lastChange), Locked: u.locked, NoPassword: u.noPassword, MustChange: u.lastChange == 0}
		if u.lastChange >= 0 {
			d := today - u.lastChange
			a.AgeDays = &d
			if !u.locked && !u.noPassword && u.lastChange > 0 && (oldest == "" || d > oldestDays) {
				oldest, oldestDays = name, d
			}
		}
		list = append(list, a)
	}
	return list, oldest, oldestDays
}

func (r *runner) emitAge() {
	list, oldest, days := ages(r.shadow, epochDay(r.c.now()))
	attrs := []collectors.Attr{{Key: "users", Value: strconv.Itoa(len(list))}}
	if oldest != "" {
		attrs = append(attrs, collectors.Attr{Key: "oldest_days", Value: strconv.FormatInt(days, 10)},
			collectors.Attr{Key: "oldest_user", Value: oldest})
	}
	r.emit(collectors.Record{
		Kind:   collectors.KindPasswordAge,
		Source: sourcePrefix + r.c.shadow,
		Body:   marshal(list),
		Attrs:  attrs,
	})
}

// scanPasswd records an account_change for every account added, removed or
// changed (uid, gid, home, shell), and a password_change for a password
// field that changed in passwd itself (systems without shadow).
func (r *runner) scanPasswd() {
	p := r.c.passwd
	o, ok := r.readAccounts(p)
	defer clear(o.content)
	if !ok || (r.passwd.known && o.sum == r.passwd.sum) {
		return
	}
	accts, bad := parsePasswd(o.content)
	if len(bad) > 0 {
		r.c.log.Warn("watch: malformed lines skipped", "path", p, "lines", bad)
	}
	t := passwdTrack{known: true, sum: o.sum, accounts: make(map[string]trackedAccount, len(accts))}
	for _, a := range accts {
		ta := trackedAccount{account: a, pwDigest: r.digest(a.pw)}
		ta.pw = nil
		t.accounts[a.User] = ta
	}
	if r.passwd.known {
		all := make(map[string]bool)
		for u := range r.passwd.accounts {
			all[u] = true
		}
		for u := range t.accounts {
			all[u] = true
		}
		for _, u := range sortedKeys(all) {
			old, wasThere := r.passwd.accounts[u]
			cur, isThere := t.accounts[u]
			switch {
			case !isThere:
				r.emitAccount(p, "removed", old.account, nil)
			case !wasThere:
				r.emitAccount(p, "added", cur.account, nil)
			default:
				if old.UID != cur.UID || old.GID != cur.GID || old.Home != cur.Home || old.Shell != cur.Shell {
					r.emitAccount(p, "changed", cur.account, &old.account)
				}
				if old.pwDigest != cur.pwDigest {
					r.emitPasswordChange(p, u, shadowUser{lastChange: -1, noPassword: cur.NoPassword})
				}
			}
		}
	}
	r.passwd = t
}

// accountFields are the fields of an account shown in records.
type accountFields struct {
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Home  string `json:"home"`
	Shell string `json:"shell"`
}

// accountBody is the body of an account_change record; old is set for
// "changed". For "removed" the fields are the removed account's.
type accountBody struct {
	Action string `json:"action"` // added, removed, changed
	User   string `json:"user"`
	accountFields
	UID0       bool           `json:"uid0"`        // uid 0: root's powers
	NoPassword bool           `json:"no_password"` // empty password field in passwd
	Old        *accountFields `json:"old,omitempty"`
}

func (r *runner) emitAccount(p, action string, a account, old *account) {
	b := accountBody{
		Action:        action,
		User:          a.User,
		accountFields: accountFields{a.UID, a.GID, a.Home, a.Shell},
		UID0:          a.UID == 0,
		NoPassword:    a.NoPassword,
	}
	attrs := []collectors.Attr{
		{Key: "action", Value: action},
		{Key: "user", Value: a.User},
		{Key: "uid", Value: strconv.FormatUint(uint64(a.UID), 10)},
		{Key: "gid", Value: strconv.FormatUint(uint64(a.GID), 10)},
		{Key: "shell", Value: a.Shell},
		{Key: "home", Value: a.Home},
		{Key: "uid0", Value: strconv.FormatBool(a.UID == 0)},
		{Key: "no_password", Value: strconv.FormatBool(a.NoPassword)},
	}
	if old != nil {
		b.Old = &accountFields{old.UID, old.GID, old.Home, old.Shell}
		attrs = append(attrs,
			collectors.Attr{Key: "old_uid", Value: strconv.FormatUint(uint64(old.UID), 10)},
			collectors.Attr{Key: "old_gid", Value: strconv.FormatUint(uint64(old.GID), 10)},
			collectors.Attr{Key: "old_shell", Value: old.Shell},
			collectors.Attr{Key: "old_home", Value: old.Home})
	}
	r.emit(collectors.Record{
		Kind:   collectors.KindAccountChange,
		Source: sourcePrefix + p,
		Body:   marshal(b),
		Attrs:  attrs,
	})
}
