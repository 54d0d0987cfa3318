package boot

import "strings"

// firmwareVersion applies the rule of the package doc: override, vendor
// file, OpenWrt release, DMI BIOS version, os-release.
func firmwareVersion(info *Info) (version, source string) {
	fw := &info.Firmware
	if o := fw.Override; o != nil && o.Version != "" {
		return o.Version, o.Source
	}
	if v := fw.Vendor; v != nil && v.Version != "" {
		if src, ok := vendorSources[v.Name]; ok {
			return v.Version, src
		}
		return v.Version, strings.ToLower(v.Name)
	}
	if o := fw.OpenWrt; o != nil && o.Release != "" {
		return joinNonEmpty(o.Release, o.Revision), "openwrt"
	}
	if d := fw.DMI; d != nil && meaningful(d.BIOSVersion) {
		return d.BIOSVersion, "dmi"
	}
	if o := info.OS; o != nil && o.VersionID != "" {
		return joinNonEmpty(o.ID, o.VersionID, o.BuildID), "os-release"
	}
	return "", ""
}

// vendorSources are the FirmwareSource names of the vendors that have a version.
var vendorSources = map[string]string{
	"VyOS":          "vyos",
	"SONiC":         "sonic",
	"Cumulus Linux": "cumulus",
	"Raspberry Pi":  "raspberrypi",
}

// model applies the rule of the package doc: DMI vendor and product, else
// the device-tree model.
func model(info *Info) (model, source string) {
	if d := info.Firmware.DMI; d != nil {
		vendor, product := d.SysVendor, d.ProductName
		if !meaningful(vendor) || strings.HasPrefix(product, vendor) {
			vendor = ""
		}
		if !meaningful(product) {
			product = ""
		}
		if m := joinNonEmpty(vendor, product); m != "" {
			return m, "dmi"
		}
	}
	if dt := info.Firmware.DeviceTree; dt != nil && dt.Model != "" {
		return dt.Model, "device-tree"
	}
	return "", ""
}

// meaningful is false for the placeholders that board makers leave in SMBIOS
// strings; they name no model and no version.
func meaningful(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "to be filled by o.e.m.", "to be filled by oem", "default string", "not specified",
		"not applicable", "system product name", "system manufacturer", "none", "n/a", "na",
		"unknown", "0123456789", "123456789", "x.x", "type1productconfigid", "oem", "o.e.m.":
		return false
	}
	return true
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
