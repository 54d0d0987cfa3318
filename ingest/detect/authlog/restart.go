package authlog

import (
	"strings"
)

// Restarts of appliances that name the firmware they came up with, and the
// Junos and Huawei lines that parse.go and appliance.go leave to this file.
// A restart is a Restart event with Version (and Model where the line names
// one); detection treats it as a reboot of the device that logged it. The
// shutdown that precedes a restart is not one: it says nothing of what came
// up.

// parseIOSRestart reads IOS and IOS-XE "%SYS-5-RESTART: System restarted --"
// and the banner that follows it in the same message ("Cisco IOS Software,
// C2900 Software (C2900-UNIVERSALK9-M), Version 15.0(1)M1, RELEASE ..."),
// whose line breaks a relay may have kept, turned into spaces or escaped
// ("#012"). Model is the image name in parentheses. A restart whose banner
// was cut off is still a restart, with no version.
func parseIOSRestart(m string) (Event, bool) {
	name, rest, ok := strings.Cut(m, ": ")
	if !ok || !strings.HasSuffix(name, "-RESTART") || !strings.HasPrefix(rest, "System restarted") {
		return Event{}, false
	}
	ev := Event{Kind: Restart, Count: 1, Program: name}
	i := strings.Index(rest, "Version ")
	if i < 0 {
		return ev, true
	}
	v := rest[i+len("Version "):]
	if j := strings.IndexAny(v, ", \n\r#"); j >= 0 {
		v = v[:j]
	}
	ev.Version = v // "" when the banner was cut right after "Version "
	// The image is the last "(...)" before Version: "C2950 Software(C2950-I6Q4L2-M)Version".
	head := rest[:i]
	if b := strings.LastIndexByte(head, ')'); b > 0 {
		if a := strings.LastIndexByte(head[:b], '('); a >= 0 && strings.Contains(head[:a], "Software") {
			ev.Model = head[a+1 : b]
		}
	}
	return ev, true
}

// parseJunosKernel reads the version banner the Junos kernel logs as it
// boots: "JUNOS 21.4R3-S5.4 #0: 2023-09-20 02:05:48 UTC ...". Only a line
// from the kernel counts; anyone can log the word JUNOS.
func parseJunosKernel(prog, m string) (Event, bool) {
	if prog != "kernel" && prog != "/kernel" {
		return Event{}, false
	}
	v, rest, ok := strings.Cut(m[len("JUNOS "):], " ")
	if !ok || !strings.HasPrefix(rest, "#") || v == "" || !isDigit(v[0]) {
		return Event{}, false
	}
	return Event{Kind: Restart, Count: 1, Program: "junos", Version: v}, true
}

// parseFortiOSStart reads FortiOS "FortiGate started" (logid 0100032009)
// and takes the version from its version field, or from msg's "vN.N.N"
// word, when the firmware names it.
func parseFortiOSStart(m string) (Event, bool) {
	ev := Event{Kind: Restart, Count: 1, Program: "fortios", Version: kv(m, "version")}
	if ev.Version == "" {
		for w := range strings.FieldsSeq(kv(m, "msg")) {
			w = strings.Trim(w, ",.()")
			if len(w) > 2 && (w[0] == 'v' || w[0] == 'V') && isDigit(w[1]) {
				ev.Version = w
				break
			}
		}
	}
	if d := kv(m, "devid"); len(d) > 6 {
		ev.Model = d[:6] // FGT60F: the device id starts with the model
	}
	return ev, true
}

// panosRestart reads a PAN-OS SYSTEM log that says the system started and
// which software it runs: "The system is starting up. Software version
// 10.2.4-h4" and the like; f is the parsed CSV, desc its description.
func panosRestart(desc string) (Event, bool) {
	low := strings.ToLower(desc)
	if !strings.HasPrefix(low, "the system is starting up") && !strings.HasPrefix(low, "system restarted") &&
		!strings.HasPrefix(low, "system started") {
		return Event{}, false // other descriptions may quote what a user typed
	}
	ev := Event{Kind: Restart, Count: 1, Program: "pan-os"}
	for _, key := range []string{"software version ", "sw-version ", "pan-os ", "version "} {
		if i := strings.Index(low, key); i >= 0 {
			ev.Version = strings.TrimRight(firstWord(desc[i+len(key):]), ".,;)")
			break
		}
	}
	return ev, true
}

// junosLogin reads Junos UI_LOGIN_EVENT: "User 'admin' login, class
// 'j-super-user' [4242], ssh-connection '192.0.2.44 52143 10.0.0.1 22',
// client-mode 'cli'". A console login names no connection. UI_LOGOUT_EVENT
// is not a login.
func junosLogin(ev Event, m string) (Event, bool) {
	rest, ok := strings.CutPrefix(m, "User ")
	if !ok || !strings.Contains(rest, " login, class ") {
		return Event{}, false
	}
	ev.Kind, ev.Method = AuthSuccess, MethodLogin
	ev.User = firstQuoted(rest)
	for _, c := range []struct{ key, method string }{{"ssh-connection '", MethodSSH}, {"telnet-connection '", MethodTelnet}} {
		if i := strings.Index(rest, c.key); i >= 0 {
			ev.Method = c.method
			ev.Source = firstWord(rest[i+len(c.key):])
			break
		}
	}
	if strings.Contains(rest, "client-mode 'junoscript'") || strings.Contains(rest, "client-mode 'netconf'") {
		ev.Method = MethodSSH // NETCONF over SSH names no ssh-connection on some releases
	}
	if ev.Source != "" && !validAddr(ev.Source) {
		ev.Source = ""
	}
	return ev, ev.User != ""
}

// vrpConfig reads Huawei VRP's configuration change notices:
// CONFIGURATION/6/CFG_FILE_CHANGE "Configuration file was changed.
// (LogIndex=.., SrcCmd=.., TerUser="admin", SrcAddr=192.0.2.44, ...)" and
// CFG_CHANGE-style lines naming UserName and IPAddress; params is the part
// in parentheses.
func vrpConfig(ev Event, params string) (Event, bool) {
	ev.Kind, ev.Method = ConfigChange, MethodLogin
	for _, k := range []string{"TerUser=", "UserName=", "User="} {
		if ev.User = quoted(commaField(params, k)); ev.User != "" {
			break
		}
	}
	for _, k := range []string{"SrcAddr=", "UserAddress=", "IPAddress=", "Ip="} {
		if ev.Source = commaField(params, k); ev.Source != "" {
			break
		}
	}
	if !validAddr(ev.Source) || ev.Source == "0.0.0.0" {
		ev.Source = ""
	}
	return ev, ev.User != ""
}
