//! A glob's probes checked as one (`ProbeResolver::join`, a kprobe_multi link): when the
//! block allows it, and with `func` read from the attach cookie.

use scry_lang::check::{check, CheckOptions};
use scry_lang::typed::Program;
use scry_lang::types::{
    Attach, Formatted, Func, ProbeResolver, ProgramKind, ResolveError, ResolvedProbe, Runs, Type,
};

/// `kprobe:f*` is three functions; joined, one probe named as written.
struct Functions;

fn probe(name: String, func: Func) -> ResolvedProbe {
    let mut p = ResolvedProbe::new(
        name.clone(),
        "kprobe",
        ProgramKind::new("kprobe", None, Runs::OnEvents),
        Attach::new(name),
    );
    p.func = Some(func);
    p
}

impl ProbeResolver for Functions {
    fn resolve(&self, _provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let names: &[&str] = match parts {
            ["f*"] => &["f1", "f2", "f3"],
            ["f1"] => &["f1"],
            _ => &[],
        };
        Ok(names
            .iter()
            .map(|f| probe(format!("kprobe:{f}"), Func::Kernel(f.to_string())))
            .collect())
    }
    fn join(&self, name: String, probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        assert!(probes.len() > 1, "only a glob's many probes are joined");
        Some(probe(name, Func::Attached { kernel: true }))
    }
    fn kernel_symbol(&self, _name: &str) -> Option<u64> {
        Some(0xffff_0000)
    }
}

fn checked(source: &str) -> Program {
    let ast = scry_lang::parse(source).unwrap();
    check(&ast, &Functions, &CheckOptions::default()).unwrap()
}

fn names(p: &Program) -> Vec<&str> {
    p.probes.iter().map(|p| p.resolved.name.as_str()).collect()
}

#[test]
fn a_glob_is_one_probe_whose_func_is_its_cookie() {
    let p = checked("kprobe:f* { @[func] = count(); }");
    assert_eq!(names(&p), ["kprobe:f*"]);
    let text = format!("{:?}", p.probes[0].body);
    assert!(text.contains("AttachCookie"), "{text}");
    assert!(text.contains("Ksym"), "{text}");
}

#[test]
fn a_block_that_reads_probe_or_loops_over_a_map_is_one_probe_per_function() {
    for source in [
        r#"kprobe:f* { printf("%s\n", probe); }"#,
        "kprobe:f* /probe == \"kprobe:f1\"/ { }",
        "kprobe:f* { @m[1] = 1; for ($kv : @m) { } }",
        "kprobe:f* { $n = 3; for ($i : 0..$n) { } }",
    ] {
        assert_eq!(
            names(&checked(source)),
            ["kprobe:f1", "kprobe:f2", "kprobe:f3"],
            "{source}"
        );
    }
}

#[test]
fn one_function_is_not_joined() {
    let p = checked("kprobe:f1 { @[func] = count(); }");
    assert_eq!(names(&p), ["kprobe:f1"]);
    assert!(!format!("{:?}", p.probes[0].body).contains("AttachCookie"));
}

#[test]
fn a_user_functions_func_is_a_func_t() {
    struct User;
    impl ProbeResolver for User {
        fn resolve(&self, p: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
            Functions.resolve(p, parts)
        }
        fn join(&self, name: String, _probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
            Some(probe(name, Func::Attached { kernel: false }))
        }
    }
    let ast = scry_lang::parse("kprobe:f* { $f = func; @[$f] = count(); }").unwrap();
    let p = check(&ast, &User, &CheckOptions::default()).unwrap();
    let var = &p.probes[0].vars[0];
    assert_eq!(var.ty, Type::Formatted(Formatted::Function));
}
