//! The web console's people (DESIGN.md "Web console"): what a valid login name is, the roles,
//! and passwords as argon2id hashes. The shell (`spdesk users`, the store, the web console)
//! decides nothing of this itself.
//!
//! Why a module of its own, outside the pure core: hashing draws a random salt from the
//! operating system.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The longest login name: it is shown in every order history line.
pub const MAX_NAME_CHARS: usize = 64;
/// The shortest password a person may choose (OWASP's minimum for passwords without MFA).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password: bounds the work one login attempt can cause.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// What a person may do in the web console. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads the queue, orders, mails and billing.
    Viewer,
    /// Also acts on orders (approve, reject, execute, reply, ...).
    Operator,
    /// Also manages the people.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's name, as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may act on orders.
    pub fn acts_on_orders(self) -> bool {
        self >= Role::Operator
    }

    /// Whether this role may manage the people.
    pub fn manages_users(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    /// Any case, surrounding blanks ignored; the error names the roles there are.
    fn from_str(s: &str) -> Result<Role, String> {
        let t = s.trim().to_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == t)
            .ok_or_else(|| format!("unknown role \"{s}\"; use viewer, operator or admin"))
    }
}

/// A character a login name may hold: letters and digits of any script, and `. _ - @`.
fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')
}

/// Checks a login name: 1 to 64 letters, digits or `. _ - @` (no blanks, no control
/// characters), since it is what every order history line records of the person.
pub fn validate_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 {
        return Err("the user name is empty; give 1 to 64 letters, digits or . _ - @".into());
    }
    if n > MAX_NAME_CHARS {
        return Err(format!(
            "the user name has {n} characters; use at most {MAX_NAME_CHARS}"
        ));
    }
    if let Some(c) = name.chars().find(|c| !name_char(*c)) {
        return Err(format!(
            "the user name may not contain {}; use letters, digits and . _ - @ only",
            c.escape_debug()
        ));
    }
    Ok(())
}

/// The key a name is found by: names differ only if they differ in more than case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Checks a new password's length, with the message in Danish and English (the person who
/// types it may read either).
pub fn validate_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password is too short: use at least {MIN_PASSWORD_CHARS} characters \
             (adgangskoden er for kort: brug mindst {MIN_PASSWORD_CHARS} tegn)"
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!(
            "the password is too long: use at most {MAX_PASSWORD_CHARS} characters \
             (adgangskoden er for lang: brug højst {MAX_PASSWORD_CHARS} tegn)"
        ));
    }
    Ok(())
}

/// argon2id with OWASP's parameters: 19 MiB of memory, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt; the result (a PHC string) holds the salt and
/// the parameters, so a later change of parameters still verifies old hashes.
pub fn hash_password(password: &str) -> Result<String, String> {
    validate_password(password)?;
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the stored hash, compared in constant time by the crate. A
/// hash that cannot be read matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new random token (a session's cookie, a CSRF token): 32 bytes from the operating
/// system, as 64 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a session token: its SHA-256 as hex, so a copy of the database
/// opens no session.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Spends the time of one verification on a hash no password matches, and says `false`: a
/// login with an unknown or disabled name takes as long as one with a wrong password, so the
/// answer's timing does not tell which names exist.
pub fn verify_nobody(password: &str) -> bool {
    static NOBODY: OnceLock<String> = OnceLock::new();
    let hash = NOBODY.get_or_init(|| hash_password(&new_token()).unwrap_or_default());
    let _ = verify_password(password, hash);
    false
}

/// A password as read from a file: the file's text without its final line break.
pub fn password_from_file_text(text: &str) -> &str {
    let t = text.strip_suffix('\n').unwrap_or(text);
    t.strip_suffix('\r').unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_and_a_few_marks() {
        for ok in ["anna", "Åse.Ødegård", "kim_42", "ops-team", "a@b.dk", "x"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert!(
            validate_name(&"a".repeat(65))
                .unwrap_err()
                .contains("at most 64")
        );
        assert!(validate_name("").unwrap_err().contains("empty"));
        for bad in [
            "an na",
            "a\tb",
            "a\u{1b}b",
            "a\u{202e}b",
            "a/b",
            "<b>",
            "a\nb",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.contains("may not contain"), "{bad}: {e}");
            assert!(!e.contains('\u{1b}') && !e.contains('\u{202e}'), "{e}");
        }
    }

    #[test]
    fn names_differ_only_beyond_case() {
        assert_eq!(name_key("Anna"), name_key("ANNA"));
        assert_eq!(name_key("ÅSE"), "åse");
        assert_ne!(name_key("anna"), name_key("anne"));
    }

    #[test]
    fn roles_parse_in_any_case_and_say_what_exists() {
        assert_eq!("viewer".parse(), Ok(Role::Viewer));
        assert_eq!(" Operator ".parse(), Ok(Role::Operator));
        assert_eq!("ADMIN".parse(), Ok(Role::Admin));
        let e = "root".parse::<Role>().unwrap_err();
        assert!(
            e.contains("\"root\"") && e.contains("viewer, operator or admin"),
            "{e}"
        );
        for r in Role::ALL {
            assert_eq!(r.as_str().parse(), Ok(r));
        }
    }

    #[test]
    fn roles_include_the_ones_before() {
        assert!(!Role::Viewer.acts_on_orders());
        assert!(Role::Operator.acts_on_orders() && !Role::Operator.manages_users());
        assert!(Role::Admin.acts_on_orders() && Role::Admin.manages_users());
    }

    #[test]
    fn short_passwords_are_refused_in_both_languages() {
        let e = validate_password("elleve tegn").unwrap_err();
        assert!(
            e.contains("at least 12") && e.contains("mindst 12 tegn"),
            "{e}"
        );
        assert!(validate_password("tolv tegn ok").is_ok());
        // Characters, not bytes: "æøå" is 3 characters.
        assert!(validate_password("æøåæøåæøåæø").is_err());
        assert!(validate_password(&"x".repeat(1025)).is_err());
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_a_random_salt() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify_password("correct horse battery", &a));
        assert!(verify_password("correct horse battery", &b));
        assert!(!verify_password("correct horse batterY", &a));
        assert!(!verify_password("", &a));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(!verify_password("correct horse battery", ""));
    }

    #[test]
    fn nobody_matches_the_stand_in_hash() {
        assert!(!verify_nobody("correct horse battery"));
        assert!(!verify_nobody(""));
    }

    #[test]
    fn tokens_are_random_and_stored_only_as_their_hash() {
        let a = new_token();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_token());
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn a_password_file_loses_only_its_final_line_break() {
        assert_eq!(password_from_file_text("secret\n"), "secret");
        assert_eq!(password_from_file_text("secret\r\n"), "secret");
        assert_eq!(password_from_file_text("secret"), "secret");
        assert_eq!(password_from_file_text(" secret \n\n"), " secret \n");
    }
}
