//! A loaded script's maps, created by scry's own `bpf(2)` calls from the module's map specs
//! (no ELF is parsed and no kernel BTF read to load a script), and held as aya's `Map`s for
//! the readers that use aya's (the ring buffer, stack traces). Maps another set of the session
//! shares are taken from their pins, or created and pinned.

use crate::pins::MapPins;
use crate::RuntimeError;
use aya::maps::{Map, MapData};
use scry_codegen::module::{MapId, MapKind, MapSpec, Module};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

const BPF_MAP_CREATE: libc::c_long = 0;

pub struct Object {
    /// By `MapId`: each map's kernel name and the map.
    maps: Vec<(String, Option<Map>)>,
}

impl Object {
    /// Creates the module's maps; those `pins` share (the REPL's later blocks) are reused when
    /// pinned already, and pinned when created.
    pub fn create(module: &Module, pins: Option<&MapPins>) -> Result<Object, RuntimeError> {
        let shared: Vec<&str> = match pins {
            Some(_) => module.shared_maps().map(|m| m.name.as_str()).collect(),
            None => Vec::new(),
        };
        let mut maps = Vec::new();
        for spec in &module.maps {
            let error = |source: io::Error| RuntimeError::MapCreate {
                name: spec.name.clone(),
                source,
            };
            let pin = pins
                .filter(|_| shared.contains(&spec.name.as_str()))
                .map(|p| p.path(&spec.name));
            let data = match pin.as_ref().and_then(|p| MapData::from_pin(p).ok()) {
                Some(data) => data,
                None => {
                    let fd = create(spec).map_err(error)?;
                    let data = MapData::from_fd(fd).map_err(|e| error(io::Error::other(e)))?;
                    if let Some(path) = &pin {
                        data.pin(path).map_err(|e| error(io::Error::other(e)))?;
                    }
                    data
                }
            };
            maps.push((spec.name.clone(), Some(wrap(spec.kind, data))));
        }
        Ok(Object { maps })
    }

    /// The map of this kernel name.
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|(n, _)| n == name)?.1.as_ref()
    }

    /// Takes the map of this kernel name out (the ring buffer, which the session reads).
    pub fn take_map(&mut self, name: &str) -> Option<Map> {
        self.maps.iter_mut().find(|(n, _)| n == name)?.1.take()
    }

    /// The descriptor of map `id`, for a program's map loads.
    pub fn fd(&self, id: MapId) -> Option<RawFd> {
        let map = self.maps.get(id.0)?.1.as_ref()?;
        Some(crate::bpf_map::map_data(map)?.fd().as_fd().as_raw_fd())
    }
}

/// The aya view of a map of this kind.
fn wrap(kind: MapKind, data: MapData) -> Map {
    match kind {
        MapKind::RingBuf => Map::RingBuf(data),
        MapKind::Array | MapKind::Globals => Map::Array(data),
        MapKind::PerCpuArray => Map::PerCpuArray(data),
        MapKind::Hash => Map::HashMap(data),
        MapKind::PerCpuHash => Map::PerCpuHashMap(data),
        MapKind::LruHash => Map::LruHashMap(data),
        MapKind::LruPerCpuHash => Map::PerCpuLruHashMap(data),
        MapKind::StackTrace { .. } => Map::StackTraceMap(data),
    }
}

/// `BPF_MAP_CREATE` for `spec`.
fn create(spec: &MapSpec) -> io::Result<std::os::fd::OwnedFd> {
    // map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node,
    // map_name[16].
    let mut attr = [0u8; 44];
    let words = [
        spec.kind.kernel_type(),
        spec.key_size,
        spec.value_size,
        spec.max_entries,
    ];
    for (i, w) in words.iter().enumerate() {
        attr[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let name = crate::raw_prog::object_name(&spec.name);
    attr[28..28 + name.len()].copy_from_slice(&name);
    crate::raw_prog::bpf(BPF_MAP_CREATE, &mut attr)
}
