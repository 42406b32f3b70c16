// Package spec holds fleare-manager's configuration: the types of a resolved
// desired state, and (in later files) the YAML parsing and validation that
// produce it.
//
// A Config is a plain value. Its Targets are sorted by name and every field
// has had its default applied, so code downstream never looks at defaults.
// Credentials are held in a Secret, which prints as a mask.
package spec
