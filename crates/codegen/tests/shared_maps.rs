//! Programs checked one after another against the same maps (an interactive session's blocks)
//! name each shared map alike in the kernel, so a loader can give them the one map.

use scry_codegen::{compile, CompileOptions};
use scry_lang::fixture::Recorded;
use scry_lang::{check_with_maps, parse, CheckOptions};

#[test]
fn a_map_keeps_its_kernel_name_in_every_program() {
    let compiled = |src: &str, existing| {
        let ast = parse(src).unwrap();
        let typed = check_with_maps(&ast, &Recorded, &CheckOptions::default(), existing).unwrap();
        let module = compile(&typed, &CompileOptions::default()).unwrap();
        (typed, module)
    };
    let (first, a) = compiled("BEGIN { @a = 1; @bytes[comm] = count(); }", &[]);
    let (_, b) = compiled("BEGIN { @new = 2; @bytes[comm] = count(); }", &first.maps);
    let name = |m: &scry_codegen::Module, map: &str| {
        let user = m.user_maps.iter().find(|u| u.decl.name == map).unwrap();
        m.maps[user.map.0].name.clone()
    };
    assert_eq!(name(&a, "@bytes"), name(&b, "@bytes"));
    assert_eq!(name(&a, "@a"), name(&b, "@a"));
    assert_ne!(name(&b, "@new"), name(&b, "@a"));
}
